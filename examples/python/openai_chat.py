"""OpenAI Chat Completions through Conduit, whole and streamed.

In the dashboard: 2 calls tagged example:python-chat, provider openai, model
gpt-4o-mini (or the dated snapshot the API reports), one of them streamed,
both with input and output tokens and a cost. The streamed call has tokens
although this script never asks for usage: Conduit adds
stream_options.include_usage upstream and hides the extra chunk from the SDK.

Run, with `conduit proxy` running:
    export OPENAI_BASE_URL=http://127.0.0.1:8080/openai/v1
    export OPENAI_API_KEY=sk-...
    pip install -r requirements.txt && python openai_chat.py
"""

import os

from openai import OpenAI

# The SDK reads OPENAI_BASE_URL and OPENAI_API_KEY from the environment.
# X-Conduit-Tag is Conduit's own header: it tags the calls in the ledger and
# is removed before the request goes to OpenAI.
client = OpenAI(default_headers={"X-Conduit-Tag": "example:python-chat"})
model = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
messages = [{"role": "user", "content": "Say hello in three words."}]

completion = client.chat.completions.create(model=model, messages=messages, max_tokens=32)
print("chat:", completion.choices[0].message.content)
print("  usage:", completion.usage)

stream = client.chat.completions.create(model=model, messages=messages, max_tokens=32, stream=True)
text = ""
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
print("chat, streamed:", text)
