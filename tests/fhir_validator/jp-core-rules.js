// Evaluates JP Core 1.2.0 rules (jp-core-1.2.0-rules.json, FHIRPath) with fhirpath.js (npm "fhirpath",
// HL7 FHIRPath on the R4 model) over FHIR resources: every resource that claims a profile, Bundle
// entries and contained resources included. Input (stdin): a JSON array of resources. Output: a JSON
// array of failures {"resourceType", "id", "profile", "source", "expression", "result"}, and
// {"checked": n} counts of resources checked per profile.
"use strict";
const fhirpath = require("fhirpath");
const r4 = require("fhirpath/fhir-context/r4");
const { rules } = require("./jp-core-1.2.0-rules.json");

const JP_CORE = "http://jpfhir.jp/fhir/core/StructureDefinition/";
const compiled = rules.map((rule) => ({ ...rule, run: fhirpath.compile(rule.expression, r4) }));

function* resources(resource) {
  yield resource;
  for (const entry of resource.entry || []) if (entry.resource) yield* resources(entry.resource);
  for (const inner of resource.contained || []) yield* resources(inner);
}

const failures = [];
const checked = {};
for (const top of JSON.parse(require("fs").readFileSync(0, "utf8"))) {
  for (const resource of resources(top)) {
    const claimed = ((resource.meta || {}).profile || []).map((p) => p.replace(JP_CORE, ""));
    for (const rule of compiled) {
      if (rule.profile !== "*" && !claimed.includes(rule.profile)) continue;
      checked[rule.profile] = (checked[rule.profile] || 0) + 1;
      const result = rule.run(resource);
      if (!(result.length === 1 && result[0] === true)) {
        failures.push({ resourceType: resource.resourceType, id: resource.id || null, profile: rule.profile,
                        source: rule.source, expression: rule.expression, result });
      }
    }
  }
}
process.stdout.write(JSON.stringify({ failures, checked }));
