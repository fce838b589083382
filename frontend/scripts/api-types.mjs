// Generates src/api/schema.d.ts from openapi.json (written by `agencyhub openapi`).
// With --check, fails when the committed file differs from what the schema gives.
import { readFile, writeFile } from 'node:fs/promises'
import openapiTS, { astToString } from 'openapi-typescript'

const root = new URL('../', import.meta.url)
const schemaFile = new URL('openapi.json', root)
const typesFile = new URL('src/api/schema.d.ts', root)
const header = '// Generated from openapi.json by scripts/api-types.mjs (`make api-types`). Do not edit.\n'

const schema = JSON.parse(await readFile(schemaFile, 'utf8'))
const generated = header + astToString(await openapiTS(schema, { alphabetize: true }))

if (process.argv.includes('--check')) {
  const committed = await readFile(typesFile, 'utf8').catch(() => '')
  if (committed !== generated) {
    console.error('src/api/schema.d.ts is out of date with openapi.json: run `make api-types`')
    process.exit(1)
  }
  console.log('src/api/schema.d.ts matches openapi.json')
} else {
  await writeFile(typesFile, generated)
  console.log('wrote src/api/schema.d.ts')
}
