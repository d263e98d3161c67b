"""Anthropic Messages through Conduit, whole and streamed.

In the dashboard: 2 calls tagged example:python-messages, provider anthropic,
model claude-haiku-4-5, one of them streamed, both with input and output
tokens and a cost (cache reads and writes, when the prompt is cached, in
their own columns).

Run, with `conduit proxy` running:
    export ANTHROPIC_BASE_URL=http://127.0.0.1:8080/anthropic
    export ANTHROPIC_API_KEY=sk-ant-...
    pip install -r requirements.txt && python anthropic_messages.py
"""

import os

from anthropic import Anthropic

# The SDK reads ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY from the environment.
client = Anthropic(default_headers={"X-Conduit-Tag": "example:python-messages"})
model = os.environ.get("ANTHROPIC_MODEL", "claude-haiku-4-5")
messages = [{"role": "user", "content": "Say hello in three words."}]

message = client.messages.create(model=model, max_tokens=32, messages=messages)
print("message:", message.content[0].text)
print("  usage:", message.usage)

with client.messages.stream(model=model, max_tokens=32, messages=messages) as stream:
    text = "".join(stream.text_stream)
    final = stream.get_final_message()
print("message, streamed:", text)
print("  usage:", final.usage)
