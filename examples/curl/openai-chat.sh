#!/bin/sh
# OpenAI Chat Completions through Conduit with curl, whole and streamed.
#
# In the dashboard: 2 calls tagged example:curl-chat, provider openai, model
# gpt-4o-mini, one of them streamed, both with input and output tokens and a
# cost. The streamed call has tokens although the request does not ask for
# usage: Conduit adds stream_options.include_usage upstream and removes the
# extra event from what curl receives.
#
# Run, with `conduit proxy` running:  OPENAI_API_KEY=sk-... sh openai-chat.sh
set -eu
base="${CONDUIT_URL:-http://127.0.0.1:8080}/openai/v1"
key="${OPENAI_API_KEY:?set OPENAI_API_KEY}"

curl -sS "$base/chat/completions" \
  -H "Authorization: Bearer $key" \
  -H "Content-Type: application/json" \
  -H "X-Conduit-Tag: example:curl-chat" \
  -d '{"model": "gpt-4o-mini", "max_tokens": 32,
       "messages": [{"role": "user", "content": "Say hello in three words."}]}'
echo

# -N: print each event as it arrives.
curl -sSN "$base/chat/completions" \
  -H "Authorization: Bearer $key" \
  -H "Content-Type: application/json" \
  -H "X-Conduit-Tag: example:curl-chat" \
  -d '{"model": "gpt-4o-mini", "max_tokens": 32, "stream": true,
       "messages": [{"role": "user", "content": "Say hello in three words."}]}'
