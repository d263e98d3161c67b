// extract.mjs writes the price data bundled in the pinned
// @pydantic/genai-prices package (package.json, package-lock.json) to
// ../../source/genai-prices.json, in the wire format genai-prices publishes
// at https://raw.githubusercontent.com/pydantic/genai-prices/main/prices/new_data/v2/data.json
// (constraints without the "type" discriminator the package adds when it
// loads them), one model per line so that an update reviews as a diff.
//
// Run from this directory: npm ci && node extract.mjs
import { waitForUpdate } from '@pydantic/genai-prices'
import { readFileSync, writeFileSync } from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('./node_modules/@pydantic/genai-prices/package.json', import.meta.url)))
const providers = await waitForUpdate()
if (!Array.isArray(providers) || providers.length === 0) {
  throw new Error('genai-prices returned no bundled providers')
}

// wireConstraint undoes the package's normalization of a price constraint
// (api.ts normalizeConditionalPrice): the published feed has no "type".
function wireConstraint(c) {
  if (c === undefined) return undefined
  if (c.type === 'start_date') return { start_date: c.start_date }
  if (c.type === 'time_of_date') return { start_time: c.start_time, end_time: c.end_time }
  throw new Error(`unknown constraint ${JSON.stringify(c)}`)
}

function wireModel(m) {
  const out = { ...m }
  if (Array.isArray(m.prices)) {
    out.prices = m.prices.map((p) => {
      const c = wireConstraint(p.constraint)
      return c === undefined ? { prices: p.prices } : { constraint: c, prices: p.prices }
    })
  }
  // TieredPrices instances serialize as {base, tiers}: the wire shape.
  return JSON.parse(JSON.stringify(out))
}

const lines = ['[']
providers.forEach((p, i) => {
  const { models, ...head } = p
  const headJSON = JSON.stringify(head)
  lines.push(headJSON.slice(0, -1) + ',"models":[')
  models.forEach((m, j) => {
    lines.push(JSON.stringify(wireModel(m)) + (j < models.length - 1 ? ',' : ''))
  })
  lines.push(']}' + (i < providers.length - 1 ? ',' : ''))
})
lines.push(']')
const out = new URL('../../source/genai-prices.json', import.meta.url)
writeFileSync(out, lines.join('\n') + '\n')
console.log(`${pkg.name} ${pkg.version}: ${providers.length} providers, ${providers.reduce((n, p) => n + p.models.length, 0)} models -> ${out.pathname}`)
