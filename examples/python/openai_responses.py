"""OpenAI Responses through Conduit, whole and streamed.

In the dashboard: 2 calls tagged example:python-responses, provider openai,
model gpt-4.1-mini, one of them streamed, both with input and output tokens
(reasoning tokens too, for a reasoning model) and a cost. Responses streams
always carry usage, in their response.completed event.

Run, with `conduit proxy` running:
    export OPENAI_BASE_URL=http://127.0.0.1:8080/openai/v1
    export OPENAI_API_KEY=sk-...
    pip install -r requirements.txt && python openai_responses.py
"""

import os

from openai import OpenAI

client = OpenAI(default_headers={"X-Conduit-Tag": "example:python-responses"})
model = os.environ.get("OPENAI_MODEL", "gpt-4.1-mini")
prompt = "Name three rivers in Finland."

response = client.responses.create(model=model, input=prompt, max_output_tokens=32)
print("response:", response.output_text)
print("  usage:", response.usage)

stream = client.responses.create(model=model, input=prompt, max_output_tokens=32, stream=True)
text = ""
for event in stream:
    if event.type == "response.output_text.delta":
        text += event.delta
    elif event.type == "response.completed":
        print("  usage:", event.response.usage)
print("response, streamed:", text)
