// Validates FHIR R4 JSON resources with FHIR.js (npm "fhir"), a validator this project did not write.
// Input (stdin): a JSON array of resources. Output (stdout): a JSON array, one entry per resource:
// {"resourceType", "id", "valid", "messages": [{"severity", "location", "message"}]}.
// Bundles are validated entry by entry as well, as FHIR.js checks a nested resource's own type.
"use strict";
const { Fhir } = require("fhir");

const fhir = new Fhir();
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const results = input.map((resource) => {
  const outcome = fhir.validate(resource);
  return {
    resourceType: resource.resourceType,
    id: resource.id || null,
    valid: outcome.valid,
    messages: outcome.messages,
  };
});
process.stdout.write(JSON.stringify(results));
