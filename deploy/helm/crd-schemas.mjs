// Turns CustomResourceDefinition YAML into the JSON schemas kubeconform reads, one file per kind
// and version at <out>/<group>/<kind>_<version>.json (kubeconform's
// {{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json). Strict like kubeconform's own
// openapi2jsonschema.py: an object that lists its properties admits no others, unless it says it
// keeps unknown fields, so a misspelt field fails validation instead of being ignored.
// Usage: node crd-schemas.mjs <out-dir> <crd.yaml>…
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseAllDocuments } from 'yaml'

function strict(schema) {
  if (Array.isArray(schema)) return schema.map(strict)
  if (schema === null || typeof schema !== 'object') return schema
  const out = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === 'properties' ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, strict(s)])) : strict(v)]))
  if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false
  return out
}

const [outDir, ...files] = process.argv.slice(2)
if (!outDir || files.length === 0) {
  process.stderr.write('usage: node crd-schemas.mjs <out-dir> <crd.yaml>…\n')
  process.exit(2)
}
let written = 0
for (const file of files) {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const crd = doc.toJS()
    if (crd?.kind !== 'CustomResourceDefinition') continue
    const { group, names, versions } = crd.spec
    for (const v of versions) {
      const schema = v.schema?.openAPIV3Schema
      if (!schema) continue
      const dir = path.join(outDir, group)
      mkdirSync(dir, { recursive: true })
      writeFileSync(path.join(dir, `${names.kind.toLowerCase()}_${v.name}.json`), JSON.stringify(strict(schema), null, 1))
      written++
    }
  }
}
if (written === 0) {
  process.stderr.write(`crd-schemas: no CustomResourceDefinition with a schema in ${files.join(', ')}\n`)
  process.exit(1)
}
process.stdout.write(`${written} schemas\n`)
