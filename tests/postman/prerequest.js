// Collection pre-request script: gets the bearer tokens the requests send
// ({{token}} clinician, {{token_admin}}, {{token_auditor}}) from the facade's
// local dev issuer when one is empty or expires within a minute, so the
// collection runs as imported. Every collection in tests/postman carries this
// same text; its source is tests/postman/prerequest.js (TestPostmanSharedScript).
// A token pasted by hand (from `make token`) is kept while its
// <name>_expires_at is empty.
const roles = { token: 'clinician', token_admin: 'admin', token_auditor: 'auditor' };
const base = pm.variables.get('base_url');
if (!base) {
  throw new Error('base_url is not set: import and select the environment tests/postman/facade.postman_environment.json');
}
// The dev issuer serves at the facade's origin: base_url without its /fhir.
const tokenURL = pm.variables.get('token_url') || base.replace(/\/fhir\/?$/, '') + '/oauth/token';
const store = pm.environment.name ? pm.environment : pm.collectionVariables;
Object.keys(roles).forEach(function (name) {
  const expiresAt = Number(pm.variables.get(name + '_expires_at') || 0);
  if (pm.variables.get(name) && (!expiresAt || expiresAt - 60000 > Date.now())) {
    return;
  }
  pm.sendRequest({
    url: tokenURL,
    method: 'POST',
    header: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: {
      mode: 'urlencoded',
      urlencoded: [
        { key: 'grant_type', value: 'client_credentials' },
        { key: 'client_id', value: pm.variables.get('client_id') || '' },
        { key: 'client_secret', value: pm.variables.get('client_secret') || '' },
        { key: 'role', value: roles[name] }
      ]
    }
  }, function (err, res) {
    const body = !err && res.code === 200 ? res.json() : {};
    if (!body.access_token) {
      // An error thrown here is lost (the script has returned); a failed
      // test shows in the run's report and fails the run.
      pm.test('a ' + roles[name] + ' token from ' + tokenURL, function () {
        throw new Error(err ? err.message + ' (is the facade running?)' : res.code + ' ' + res.text());
      });
      return;
    }
    store.set(name, body.access_token);
    store.set(name + '_expires_at', String(Date.now() + (body.expires_in || 300) * 1000));
  });
});
