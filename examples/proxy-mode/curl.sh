#!/bin/sh
# Forward (HTTPS_PROXY) mode with curl: requests go to the real API hosts,
# unchanged, and Conduit decrypts them on the way with its local CA.
#
# In the dashboard: 2 calls tagged example:proxy-curl, mode forward (the
# details view says "forward proxy (HTTPS_PROXY)"): provider openai, model
# gpt-4o-mini, streamed; provider anthropic, model claude-haiku-4-5, not
# streamed; both with tokens and a cost.
#
# Run, with `conduit proxy` running and a CA made once by `conduit ca init`:
#   OPENAI_API_KEY=sk-... ANTHROPIC_API_KEY=sk-ant-... conduit run -- sh curl.sh
# `conduit run` sets HTTPS_PROXY and CURL_CA_BUNDLE (the system roots plus
# Conduit's CA) for this command; `eval "$(conduit env --mode proxy)"` sets
# them in your shell instead.
set -eu
: "${HTTPS_PROXY:?not set: run this as 'conduit run -- sh curl.sh'}"
: "${CURL_CA_BUNDLE:?not set: run this as 'conduit run -- sh curl.sh'}"

curl -sSN https://api.openai.com/v1/chat/completions \
  -H "Authorization: Bearer ${OPENAI_API_KEY:?set OPENAI_API_KEY}" \
  -H "Content-Type: application/json" \
  -H "X-Conduit-Tag: example:proxy-curl" \
  -d '{"model": "gpt-4o-mini", "max_tokens": 32, "stream": true,
       "messages": [{"role": "user", "content": "Say hello in three words."}]}'
echo

curl -sS https://api.anthropic.com/v1/messages \
  -H "x-api-key: ${ANTHROPIC_API_KEY:?set ANTHROPIC_API_KEY}" \
  -H "anthropic-version: 2023-06-01" \
  -H "Content-Type: application/json" \
  -H "X-Conduit-Tag: example:proxy-curl" \
  -d '{"model": "claude-haiku-4-5", "max_tokens": 32,
       "messages": [{"role": "user", "content": "Say hello in three words."}]}'
echo
