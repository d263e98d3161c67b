// oracle.mjs computes genai-prices' own prices (calcPrice of the pinned
// @pydantic/genai-prices, see package.json) for a set of calls and writes
// them to ../../testdata/oracle.json, which oracle_test.go compares with
// Conduit's costs. The cases cover the providers Conduit prices, tier
// boundaries on both sides, cache reads and writes, reasoning, audio and
// image tokens, price history and time-of-day prices, dated names,
// platform prefixes, provider selection by id, by API URL and by model,
// and names that must not take a sibling's price.
//
// Run from this directory: npm ci && node oracle.mjs
import { calcPrice, waitForUpdate } from '@pydantic/genai-prices'
import { readFileSync, writeFileSync } from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('./node_modules/@pydantic/genai-prices/package.json', import.meta.url)))
const providers = await waitForUpdate()
const byId = Object.fromEntries(providers.map((p) => [p.id, p]))

const NOW = '2026-11-15T12:00:00Z'
const cases = []
const names = new Set()

function add(name, { provider, url, model, usage, at = NOW }) {
  if (names.has(name)) throw new Error(`duplicate case ${name}`)
  names.add(name)
  const options = { timestamp: new Date(at) }
  if (provider) options.providerId = provider
  if (url) options.providerApiUrl = url
  const r = calcPrice(usage, model, options)
  cases.push({
    name,
    provider_id: provider ?? '',
    api_url: url ?? '',
    model,
    timestamp: at,
    usage,
    expect: r === null ? null : { total: r.total_price, provider: r.provider.id, model: r.model.id },
  })
}

// Usage shapes, in genai-prices' keys: input_tokens includes cache reads
// and writes (and audio and image input), output_tokens includes
// reasoning (and audio and image output).
const plain = { input_tokens: 12_345, output_tokens: 678 }
const cached = { input_tokens: 100_000, cache_read_tokens: 60_000, output_tokens: 2_000 }
const writes = { input_tokens: 50_000, cache_read_tokens: 20_000, cache_write_tokens: 10_000, output_tokens: 1_500 }
const writes1h = { input_tokens: 50_000, cache_read_tokens: 20_000, cache_write_tokens: 10_000, cache_write_1h_tokens: 4_000, output_tokens: 1_500 }
const reasoning = { input_tokens: 8_000, cache_read_tokens: 3_000, output_tokens: 9_000, output_reasoning_tokens: 7_000 }
const tiny = { input_tokens: 3, output_tokens: 7 }

// 1. Each provider Conduit routes to: common models and usage shapes.
const basic = {
  openai: ['gpt-4.1', 'gpt-4.1-mini', 'gpt-4o', 'gpt-4o-mini', 'gpt-5', 'gpt-5-mini', 'gpt-5-nano', 'gpt-5.2', 'gpt-5.4-mini', 'o3', 'o4-mini', 'o1', 'gpt-3.5-turbo', 'gpt-6-sol', 'codex-mini-latest', 'chatgpt-4o-latest'],
  anthropic: ['claude-haiku-4-5', 'claude-sonnet-4-5', 'claude-opus-4-1', 'claude-opus-4-5', 'claude-opus-4-7', 'claude-opus-4-8', 'claude-sonnet-5', 'claude-fable-5', 'claude-opus-5', 'claude-opus-5-5', 'claude-3-5-haiku', 'claude-3-haiku'],
  google: ['gemini-2.5-flash', 'gemini-2.5-flash-lite', 'gemini-2.0-flash', 'gemini-2.0-flash-lite', 'gemini-3-flash-preview', 'gemini-3.5-flash', 'gemini-3.5-flash-lite', 'gemini-3.1-flash-lite'],
  deepseek: ['deepseek-reasoner', 'deepseek-v3.2'],
  'x-ai': ['grok-4-0709', 'grok-3-mini', 'grok-code-fast-1', 'grok-4-fast-reasoning', 'grok-4-1-fast-non-reasoning'],
  mistral: ['mistral-large-latest', 'mistral-small-latest', 'codestral-latest', 'magistral-medium-2509', 'devstral-small-2507', 'ministral-8b-2410'],
  groq: ['llama-3.3-70b-versatile', 'llama-3.1-8b-instant', 'openai/gpt-oss-120b', 'moonshotai/kimi-k2-instruct-0905', 'qwen/qwen3-32b'],
  together: ['meta-llama/Llama-3.3-70B-Instruct-Turbo', 'deepseek-ai/DeepSeek-V3', 'Qwen/Qwen2.5-72B-Instruct-Turbo'],
  fireworks: ['accounts/fireworks/models/llama-v3p1-8b-instruct', 'accounts/fireworks/models/deepseek-v3', 'accounts/fireworks/models/qwen3-235b-a22b'],
  openrouter: ['anthropic/claude-sonnet-4.5', 'openai/gpt-5', 'google/gemini-2.5-pro', 'x-ai/grok-4.3', 'deepseek/deepseek-v4-pro', 'anthropic/claude-haiku-4.5', 'openai/gpt-5-mini'],
  azure: ['o3', 'o4-mini', 'phi-4', 'gpt-4o-2024-11-20', 'text-embedding-3-small'],
  aws: ['amazon.nova-pro-v1:0', 'amazon.nova-lite-v1:0', 'meta.llama3-3-70b-instruct-v1:0', 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'global.anthropic.claude-opus-4-6-v1:0'],
}
const shapes = { plain, cached, writes, writes1h, reasoning, tiny }
for (const [provider, models] of Object.entries(basic)) {
  models.forEach((model, i) => {
    // Every model with plain usage, and one other shape in turn.
    add(`${provider} ${model} plain`, { provider, model, usage: plain })
    const shape = Object.keys(shapes)[1 + (i % (Object.keys(shapes).length - 1))]
    add(`${provider} ${model} ${shape}`, { provider, model, usage: shapes[shape] })
  })
}

// 2. Tier boundaries, both sides, for every tiered model of these
// providers, named by a name that genai-prices maps to it.
function nameFor(provider, model) {
  const eq = []
  const walk = (m) => {
    if ('equals' in m) eq.push(m.equals)
    for (const k of ['or', 'and']) if (k in m) m[k].forEach(walk)
  }
  walk(model.match)
  for (const n of [model.id, ...eq]) {
    const r = calcPrice(plain, n, { providerId: provider, timestamp: new Date(NOW) })
    if (r && r.model.id === model.id) return n
  }
  return null
}
const tierProviders = ['openai', 'anthropic', 'google', 'x-ai', 'aws', 'openrouter', 'minimax', 'github-copilot']
for (const provider of tierProviders) {
  for (const model of byId[provider].models) {
    const periods = Array.isArray(model.prices) ? model.prices : [{ prices: model.prices }]
    periods.forEach((period, pi) => {
      const starts = new Set()
      for (const v of Object.values(period.prices)) {
        if (typeof v === 'object' && v) for (const t of v.tiers) starts.add(t.start)
      }
      if (starts.size === 0) return
      const name = nameFor(provider, model)
      if (!name) return
      // A timestamp inside this period.
      let at = NOW
      const c = period.constraint
      if (c && c.type === 'start_date') at = `${c.start_date}T12:00:00Z`
      else if (pi === 0 && periods.length > 1 && periods[1].constraint?.type === 'start_date') {
        const d = new Date(periods[1].constraint.start_date)
        d.setUTCDate(d.getUTCDate() - 1)
        at = d.toISOString().slice(0, 10) + 'T12:00:00Z'
      }
      for (const start of starts) {
        for (const input of [start, start + 1]) {
          add(`tier ${provider} ${name} period ${pi} input ${input}`, {
            provider,
            model: name,
            at,
            usage: { input_tokens: input, cache_read_tokens: Math.floor(input / 4), cache_write_tokens: Math.floor(input / 10), output_tokens: 3_210 },
          })
        }
      }
    })
  }
}

// 3. Price history and time-of-day prices.
const history = [
  ['openai', 'gpt-5.6-luna', ['2026-07-29T23:59:59Z', '2026-07-30T00:00:00Z']],
  ['openai', 'gpt-5.6-sol', ['2026-08-20T12:00:00Z', '2026-08-21T00:00:00Z']],
  ['openai', 'gpt-5.6-terra', ['2026-07-01T00:00:00Z', '2026-08-01T00:00:00Z']],
  ['openai', 'o3', ['2025-06-09T23:00:00Z', '2025-06-10T00:00:00Z']],
  ['anthropic', 'claude-opus-4-6', ['2026-03-12T12:00:00Z', '2026-03-13T00:00:01Z']],
  ['anthropic', 'claude-sonnet-4-6', ['2026-02-20T12:00:00Z', '2026-04-01T12:00:00Z']],
  ['google', 'gemini-3.8-flash', ['2026-12-31T23:59:59Z', '2027-01-01T00:00:00Z']],
  ['mistral', 'mistral-medium-latest', ['2026-06-15T12:00:00Z', '2026-06-16T12:00:00Z']],
  ['mistral', 'voxtral-small-24b-2507', ['2026-08-10T12:00:00Z', '2026-08-11T12:00:00Z']],
  ['openrouter', '~anthropic/claude-opus-latest', ['2026-09-21T12:00:00Z', '2026-09-22T12:00:00Z']],
  ['deepseek', 'deepseek-chat', ['2026-11-15T00:29:59Z', '2026-11-15T00:30:00Z', '2026-11-15T16:29:59Z', '2026-11-15T16:30:00Z']],
  ['deepseek', 'deepseek-v4-flash', ['2026-08-16T02:00:00Z', '2026-08-16T12:00:00Z', '2026-08-17T00:59:59Z', '2026-08-17T01:00:00Z', '2026-08-17T04:00:00Z', '2026-08-17T07:30:00Z', '2026-08-17T10:00:00Z']],
  ['deepseek', 'deepseek-v4-pro', ['2026-08-18T05:00:00Z', '2026-08-18T09:59:59Z']],
]
for (const [provider, model, times] of history) {
  for (const at of times) add(`history ${provider} ${model} at ${at}`, { provider, model, at, usage: cached })
}

// 4. Dated snapshots, aliases and platform prefixes.
const named = [
  ['openai', 'gpt-4.1-2025-04-14'], ['openai', 'gpt-4.1-mini-2025-04-14'], ['openai', 'gpt-4o-2024-08-06'], ['openai', 'gpt-4o-2024-05-13'],
  ['openai', 'gpt-5-2025-08-07'], ['openai', 'gpt-5.4-2026-03-05'], ['openai', 'gpt-5.6-sol-2026-08-21'], ['openai', 'gpt-5-mini-2025-08-07'],
  ['openai', 'gpt-4.1-nano-2025-11-01'], ['openai', 'o3-2025-04-16'], ['openai', 'gpt-5.5-chat-latest'], ['openai', 'gpt-3.5-turbo-0125'],
  ['anthropic', 'claude-sonnet-4-5-20250929'], ['anthropic', 'claude-haiku-4-5-20251001'], ['anthropic', 'claude-opus-4-1-20250805'],
  ['anthropic', 'claude-3-5-haiku-20241022'], ['anthropic', 'claude-3-5-haiku-latest'], ['anthropic', 'claude-sonnet-4-20250514'],
  ['anthropic', 'claude-opus-5-20261001'], ['anthropic', 'claude-3-7-sonnet-latest'],
  ['google', 'gemini-2.0-flash-001'], ['google', 'gemini-2.5-flash-lite-preview-06-17'], ['google', 'gemini-2.5-flash-preview-05-20'],
  ['google', 'gemini-3.5-flash-20261001'], ['google', 'claude-sonnet-4-5@20250929'], ['google', 'claude-opus-4-1@20250805'], ['google', 'claude-haiku-4-5@20251001'],
  ['google', 'models/gemini-2.5-flash'],
  ['aws', 'us.anthropic.claude-haiku-4-5-20251001-v1:0'], ['aws', 'eu.anthropic.claude-3-7-sonnet-20250219-v1:0'], ['aws', 'apac.anthropic.claude-sonnet-4-20250514-v1:0'],
  ['aws', 'global.anthropic.claude-sonnet-4-5-20250929-v1:0'], ['aws', 'anthropic.claude-3-5-sonnet-20241022-v2:0'], ['aws', 'us.amazon.nova-pro-v1:0'],
  ['aws', 'global.openai.gpt-5.6-sol'], ['aws', 'us.deepseek.r1-v1:0'],
  ['openrouter', 'openai/gpt-5.5-20260423'], ['openrouter', 'anthropic/claude-4.5-sonnet-20250929'], ['openrouter', 'google/gemini-3.5-flash-20261001'],
  ['x-ai', 'grok-4.3-20260301'], ['x-ai', 'grok-4-latest'], ['x-ai', 'grok-3-mini-beta'],
  ['mistral', 'mistral-large-2411'], ['mistral', 'pixtral-large-2411'],
  ['deepseek', 'deepseek-chat-v3-0324'],
]
for (const [provider, model] of named) add(`named ${provider} ${model}`, { provider, model, usage: writes1h })

// 5. Names that are a different model than the one a loose rule finds.
const siblings = [
  ['google', 'gemini-1.5-flash-8b'], ['google', 'gemini-3.5-flash-lite-image'], ['google', 'gemini-2.5-pro-preview-06-05'],
  ['anthropic', 'claude-opus-4-10'], ['anthropic', 'claude-haiku-4-5-mini'], ['anthropic', 'claude-sonnet-4-5-lite'],
  ['deepseek', 'deepseek-v4-flash-lite'], ['deepseek', 'deepseek-chat-realtime'], ['azure', 'o4-mini-deep-research'],
  ['openai', 'gpt-4o-realtime-preview-2025-06-03'], ['openai', 'gpt-4o-mini-tts'], ['openai', 'gpt-4o-mini-audio-preview'],
  ['openai', 'gpt-5.9'], ['openai', 'davinci-002'], ['openai', 'babbage-002'], ['mistral', 'magistral-small-2509'],
]
for (const [provider, model] of siblings) add(`sibling ${provider} ${model}`, { provider, model, usage: plain })

// 6. The provider from the upstream URL, and from the model alone.
const urls = [
  ['https://api.openai.com/v1', 'gpt-4.1'], ['https://api.anthropic.com/v1', 'claude-sonnet-4-5'],
  ['https://generativelanguage.googleapis.com/v1beta', 'gemini-2.5-flash'], ['https://us-east5-aiplatform.googleapis.com/v1/projects/p/locations/us-east5', 'claude-sonnet-4-5@20250929'],
  ['https://bedrock-runtime.us-east-1.amazonaws.com/model', 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'], ['https://acme.openai.azure.com/openai', 'gpt-4o'],
  ['https://api.groq.com/openai/v1', 'llama-3.3-70b-versatile'], ['https://openrouter.ai/api/v1', 'openai/gpt-5'], ['https://api.x.ai/v1', 'grok-4-0709'],
  ['https://api.deepseek.com/v1', 'deepseek-reasoner'], ['https://api.mistral.ai/v1', 'mistral-small-latest'], ['https://api.together.xyz/v1', 'meta-llama/Llama-3.3-70B-Instruct-Turbo'],
  ['https://api.fireworks.ai/inference/v1', 'accounts/fireworks/models/llama-v3p1-8b-instruct'], ['https://api.cerebras.ai/v1', 'gpt-oss-120b'],
]
for (const [url, model] of urls) add(`url ${url} ${model}`, { url, model, usage: cached })
const modelOnly = ['gpt-4o', 'gpt-5-mini', 'o4-mini', 'claude-sonnet-4-5', 'claude-opus-4-7', 'gemini-2.5-flash', 'gemini-3.5-flash', 'grok-4-0709', 'deepseek-chat', 'mistral-large-latest', 'llama-3.3-70b-versatile', 'kimi-k2-0905-preview']
for (const model of modelOnly) add(`model-only ${model}`, { model, usage: cached })

// 7. Reasoning, audio and image tokens, per-request fees, free and
// unmetered models.
const special = [
  ['openai', 'gpt-4o-realtime-preview', { input_tokens: 20_000, cache_read_tokens: 5_000, cache_audio_read_tokens: 0, input_audio_tokens: 8_000, output_tokens: 3_000, output_audio_tokens: 2_000 }],
  ['openai', 'gpt-realtime', { input_tokens: 20_000, input_audio_tokens: 8_000, input_image_tokens: 1_000, output_tokens: 3_000, output_audio_tokens: 2_500 }],
  ['openai', 'gpt-audio', { input_tokens: 10_000, input_audio_tokens: 6_000, output_tokens: 4_000, output_audio_tokens: 3_000 }],
  ['openai', 'gpt-image-1', { input_tokens: 5_000, input_image_tokens: 4_000, output_tokens: 6_000 }],
  ['openai', 'gpt-image-1.5', { input_tokens: 5_000, input_image_tokens: 4_000, output_tokens: 6_000, output_image_tokens: 5_500 }],
  ['google', 'gemini-2.5-flash', { input_tokens: 30_000, input_audio_tokens: 20_000, output_tokens: 1_000 }],
  ['google', 'gemini-2.5-flash-image', { input_tokens: 2_000, output_tokens: 1_400, output_image_tokens: 1_290 }],
  ['google', 'gemini-3-pro-image-preview', { input_tokens: 2_000, output_tokens: 1_400, output_image_tokens: 1_120 }],
  ['google', 'gemini-live-2.5-flash', { input_tokens: 9_000, input_audio_tokens: 7_000, output_tokens: 2_000, output_audio_tokens: 1_800 }],
  ['perplexity', 'sonar', { input_tokens: 1_000, output_tokens: 500 }],
  ['perplexity', 'sonar-pro', { input_tokens: 1_000, output_tokens: 500 }],
  ['openai', 'omni-moderation-latest', { input_tokens: 1_000, output_tokens: 0 }],
  ['google', 'gemma-3-27b-it', { input_tokens: 1_000, output_tokens: 100 }],
  ['x-ai', 'grok-voice-latest', { input_tokens: 1_000, output_tokens: 100 }],
  ['mistral', 'mistral-ocr-latest', { input_tokens: 1_000, output_tokens: 100 }],
]
for (const m of byId.openai.models) {
  const p = Array.isArray(m.prices) ? m.prices.at(-1).prices : m.prices
  if ('output_reasoning_mtok' in p) special.push(['openai', nameFor('openai', m) ?? m.id, reasoning])
}
for (const p of providers) {
  for (const m of p.models) {
    const pr = Array.isArray(m.prices) ? m.prices.at(-1).prices : m.prices
    if ('output_reasoning_mtok' in pr && p.id !== 'openai') {
      const n = nameFor(p.id, m)
      if (n) special.push([p.id, n, reasoning])
    }
  }
}
for (const [provider, model, usage] of special) add(`special ${provider} ${model}`, { provider, model, usage })

const out = new URL('../../testdata/oracle.json', import.meta.url)
writeFileSync(out, JSON.stringify({ package: pkg.name, version: pkg.version, cases }, null, 1) + '\n')
const priced = cases.filter((c) => c.expect).length
console.log(`${pkg.name} ${pkg.version}: ${cases.length} cases (${priced} priced) -> ${out.pathname}`)
