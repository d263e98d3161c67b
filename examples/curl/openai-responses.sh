#!/bin/sh
# OpenAI Responses through Conduit with curl, whole and streamed.
#
# In the dashboard: 2 calls tagged example:curl-responses, provider openai,
# model gpt-4.1-mini, one of them streamed, both with input and output tokens
# and a cost (Responses streams carry usage in response.completed).
#
# Run, with `conduit proxy` running:  OPENAI_API_KEY=sk-... sh openai-responses.sh
set -eu
base="${CONDUIT_URL:-http://127.0.0.1:8080}/openai/v1"
key="${OPENAI_API_KEY:?set OPENAI_API_KEY}"

curl -sS "$base/responses" \
  -H "Authorization: Bearer $key" \
  -H "Content-Type: application/json" \
  -H "X-Conduit-Tag: example:curl-responses" \
  -d '{"model": "gpt-4.1-mini", "max_output_tokens": 32, "input": "Name three rivers in Finland."}'
echo

curl -sSN "$base/responses" \
  -H "Authorization: Bearer $key" \
  -H "Content-Type: application/json" \
  -H "X-Conduit-Tag: example:curl-responses" \
  -d '{"model": "gpt-4.1-mini", "max_output_tokens": 32, "stream": true, "input": "Name three rivers in Finland."}'
