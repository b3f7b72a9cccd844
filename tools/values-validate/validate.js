// values-validate: the chart's values.yaml merged with each given file (as Helm merges them),
// checked against values.schema.json. Prints the errors; exit 1 when any values are invalid.
const fs = require('fs'); const path = require('path'); const yaml = require('js-yaml');
const Ajv2020 = require('ajv/dist/2020');
const [chart, ...files] = process.argv.slice(2);
const schema = JSON.parse(fs.readFileSync(path.join(chart, 'values.schema.json'), 'utf8'));
const merge = (a, b) => {
  if (b === null || typeof b !== 'object' || Array.isArray(b) || a === null || typeof a !== 'object' || Array.isArray(a)) return b;
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in a ? merge(a[k], v) : v;
  return out;
};
let values = yaml.load(fs.readFileSync(path.join(chart, 'values.yaml'), 'utf8')) || {};
for (const f of files) values = merge(values, yaml.load(fs.readFileSync(f, 'utf8')) || {});
const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
if (validate(values)) { console.log('values valid'); process.exit(0); }
for (const e of validate.errors) console.log(`INVALID ${e.instancePath || '/'} ${e.message}${e.params && e.params.additionalProperty ? ': ' + e.params.additionalProperty : ''}`);
process.exit(1);
