#!/bin/sh
# Gemini generateContent through Conduit with curl, whole and streamed.
#
# In the dashboard: 2 calls tagged example:curl-gemini, provider gemini,
# model gemini-2.5-flash, one of them streamed (streamGenerateContent with
# alt=sse), both with input and output tokens and a cost. The key goes in
# the x-goog-api-key header (a key= query parameter works too; Conduit never
# records either).
#
# Run, with `conduit proxy` running:  GEMINI_API_KEY=... sh gemini.sh
set -eu
base="${CONDUIT_URL:-http://127.0.0.1:8080}/gemini/v1beta/models/gemini-2.5-flash"
key="${GEMINI_API_KEY:?set GEMINI_API_KEY}"
body='{"contents": [{"parts": [{"text": "Say hello in three words."}]}],
       "generationConfig": {"maxOutputTokens": 32}}'

curl -sS "$base:generateContent" \
  -H "x-goog-api-key: $key" \
  -H "Content-Type: application/json" \
  -H "X-Conduit-Tag: example:curl-gemini" \
  -d "$body"
echo

curl -sSN "$base:streamGenerateContent?alt=sse" \
  -H "x-goog-api-key: $key" \
  -H "Content-Type: application/json" \
  -H "X-Conduit-Tag: example:curl-gemini" \
  -d "$body"
