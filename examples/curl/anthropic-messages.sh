#!/bin/sh
# Anthropic Messages through Conduit with curl, whole and streamed.
#
# In the dashboard: 2 calls tagged example:curl-messages, provider anthropic,
# model claude-haiku-4-5, one of them streamed, both with input and output
# tokens and a cost.
#
# Run, with `conduit proxy` running:  ANTHROPIC_API_KEY=sk-ant-... sh anthropic-messages.sh
set -eu
base="${CONDUIT_URL:-http://127.0.0.1:8080}/anthropic/v1"
key="${ANTHROPIC_API_KEY:?set ANTHROPIC_API_KEY}"

curl -sS "$base/messages" \
  -H "x-api-key: $key" \
  -H "anthropic-version: 2023-06-01" \
  -H "Content-Type: application/json" \
  -H "X-Conduit-Tag: example:curl-messages" \
  -d '{"model": "claude-haiku-4-5", "max_tokens": 32,
       "messages": [{"role": "user", "content": "Say hello in three words."}]}'
echo

curl -sSN "$base/messages" \
  -H "x-api-key: $key" \
  -H "anthropic-version: 2023-06-01" \
  -H "Content-Type: application/json" \
  -H "X-Conduit-Tag: example:curl-messages" \
  -d '{"model": "claude-haiku-4-5", "max_tokens": 32, "stream": true,
       "messages": [{"role": "user", "content": "Say hello in three words."}]}'
