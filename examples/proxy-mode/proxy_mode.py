"""Forward (HTTPS_PROXY) mode with the OpenAI and Anthropic Python SDKs.

The SDKs keep their default base URLs (the real API hosts); httpx, which
both use, honours HTTPS_PROXY and trusts the CA bundle in SSL_CERT_FILE, so
Conduit sees and records every call without any change to the code.

In the dashboard: 2 calls tagged example:proxy-python, mode forward (the
details view says "forward proxy (HTTPS_PROXY)"): provider openai, model
gpt-4o-mini, streamed; provider anthropic, model claude-haiku-4-5, not
streamed; both with tokens and a cost.

Run, with `conduit proxy` running and a CA made once by `conduit ca init`:
    OPENAI_API_KEY=sk-... ANTHROPIC_API_KEY=sk-ant-... conduit run -- python proxy_mode.py
`conduit run` sets HTTPS_PROXY and SSL_CERT_FILE (the system roots plus
Conduit's CA) for this command; `eval "$(conduit env --mode proxy)"` sets them
in your shell instead.
"""

import os
import sys

from anthropic import Anthropic
from openai import OpenAI

if not os.environ.get("HTTPS_PROXY") or not os.environ.get("SSL_CERT_FILE"):
    sys.exit("HTTPS_PROXY and SSL_CERT_FILE are not set: run this as 'conduit run -- python proxy_mode.py'")

tag = {"X-Conduit-Tag": "example:proxy-python"}
messages = [{"role": "user", "content": "Say hello in three words."}]

# base_url is given only so that an OPENAI_BASE_URL left in the environment
# cannot turn this into a base-URL example.
openai = OpenAI(base_url="https://api.openai.com/v1", default_headers=tag)
stream = openai.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=32, stream=True)
text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
print("openai, streamed:", text)

anthropic = Anthropic(base_url="https://api.anthropic.com", default_headers=tag)
message = anthropic.messages.create(model="claude-haiku-4-5", max_tokens=32, messages=messages)
print("anthropic:", message.content[0].text)
print("  usage:", message.usage)
