"""OpenAI legacy Completions through Conduit, whole and streamed.

In the dashboard: 2 calls tagged example:python-completions, provider openai,
model gpt-3.5-turbo-instruct, one of them streamed, both with input and output
tokens and a cost (Conduit asks for the streamed call's usage, as for chat).

Run, with `conduit proxy` running:
    export OPENAI_BASE_URL=http://127.0.0.1:8080/openai/v1
    export OPENAI_API_KEY=sk-...
    pip install -r requirements.txt && python openai_completions.py
"""

import os

from openai import OpenAI

client = OpenAI(default_headers={"X-Conduit-Tag": "example:python-completions"})
model = os.environ.get("OPENAI_COMPLETIONS_MODEL", "gpt-3.5-turbo-instruct")
prompt = "Write a haiku about proxies."

completion = client.completions.create(model=model, prompt=prompt, max_tokens=32)
print("completion:", completion.choices[0].text.strip())
print("  usage:", completion.usage)

stream = client.completions.create(model=model, prompt=prompt, max_tokens=32, stream=True)
text = ""
for chunk in stream:
    if chunk.choices:
        text += chunk.choices[0].text
print("completion, streamed:", text.strip())
