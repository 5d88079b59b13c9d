// A stock FHIR client, fhir-kit-client from the npm registry, used
// unmodified against the facade: CapabilityStatement, read, search, and
// paging by following the Bundle's next link. Run by tests/stockclient_test.go
// with FHIR_BASE_URL pointing at a facade it started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from 'fhir-kit-client';

const baseUrl = process.env.FHIR_BASE_URL;
assert.ok(baseUrl, 'FHIR_BASE_URL must be set');
// The facade requires a bearer token; a stock client sends it as any header.
const client = new Client({ baseUrl, customHeaders: { Authorization: `Bearer ${process.env.FHIR_TOKEN}` } });

test('reads the CapabilityStatement', async () => {
  const cs = await client.capabilityStatement();
  assert.equal(cs.resourceType, 'CapabilityStatement');
  assert.equal(cs.fhirVersion, '4.0.1');
  const patient = cs.rest[0].resource.find((r) => r.type === 'Patient');
  assert.deepEqual(patient.interaction.map((i) => i.code).sort(), ['create', 'patch', 'read', 'search-type', 'vread']);
});

test('reads Patient 9000000009', async () => {
  const p = await client.read({ resourceType: 'Patient', id: '9000000009' });
  assert.equal(p.resourceType, 'Patient');
  assert.equal(p.id, '9000000009');
  assert.equal(p.meta.versionId, '2');
});

test('searches and follows next links to the end', async () => {
  let bundle = await client.search({
    resourceType: 'Patient',
    searchParams: { family: 'Smith', gender: 'male', birthdate: 'eq2000-05-05', _count: 6 },
  });
  assert.equal(bundle.type, 'searchset');
  const total = bundle.total;
  assert.ok(total > 6, `need several pages, total ${total}`);
  const seen = new Set();
  for (let page = 0; bundle && page <= total; page++) {
    for (const e of bundle.entry ?? []) {
      if (e.search?.mode !== 'match') continue;
      assert.ok(!seen.has(e.resource.id), `${e.resource.id} seen twice`);
      seen.add(e.resource.id);
    }
    bundle = await client.nextPage({ bundle });
  }
  assert.equal(seen.size, total);
});

test('an error is an OperationOutcome the client surfaces', async () => {
  await assert.rejects(client.read({ resourceType: 'Patient', id: '9000000000' }), (err) => {
    assert.equal(err.response.status, 400);
    assert.equal(err.response.data.resourceType, 'OperationOutcome');
    assert.equal(err.response.data.issue[0].code, 'invalid');
    return true;
  });
});
