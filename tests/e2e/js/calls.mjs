// Drives the real @google/genai SDK through the gateway and prints what the SDK saw as JSON,
// for tests/e2e/test_sdks.py to compare with the database. Usage: node calls.mjs BASE_URL KEY
import { GoogleGenAI } from '@google/genai'

const [baseUrl, apiKey] = process.argv.slice(2)
const client = (session) =>
  new GoogleGenAI({ apiKey, httpOptions: { baseUrl, headers: { 'x-gateway-session-id': session } } })

const out = {}

const g = await client('js-generate').models.generateContent({
  model: 'gemini-3.8-flash',
  contents: 'Count the words the JavaScript SDK sends',
})
out['js-generate'] = { text: g.text, usage: g.usageMetadata, model: g.modelVersion }

let last
for await (const chunk of await client('js-stream').models.generateContentStream({
  model: 'gemini-3.5-flash-lite',
  contents: 'Stream a short answer from JavaScript',
})) {
  last = chunk
}
out['js-stream'] = { usage: last.usageMetadata }

const i = await client('js-interaction').interactions.create({
  model: 'gemini-3.8-flash',
  input: 'An interaction from the JavaScript SDK',
})
out['js-interaction'] = { id: i.id, status: i.status, usage: i.usage }

process.stdout.write(JSON.stringify(out))
