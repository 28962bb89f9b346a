// A real OpenID provider for caregate's sign-in tests (tests/it/oidc.rs): node's
// `oidc-provider` (an OpenID-certified implementation), installed by
// scripts/services.sh outside the clone, with accounts whose claims the tests know and
// its development log-in and consent pages, which the tests drive over HTTP (the log-in
// takes any password: what is tested is caregate's side of the flow).
//
// Environment:
//   OIDC_PROVIDER_DIR      where `npm install oidc-provider` was run
//   PORT                   port to listen on (127.0.0.1); the issuer is http://127.0.0.1:PORT
//   CLIENTS                JSON list of {client_id, client_secret, redirect_uris}
//   CLOCK_BEHIND_SECONDS   optional: this provider's clock runs that far behind, as a
//                          badly synchronised server's would (its ID tokens arrive expired)
//   WRONG_AUDIENCE_CLIENT  optional: the ID tokens issued to this client name another
//                          client as their audience, as a misconfigured or compromised
//                          provider's would (signed with the provider's real key)
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const behind = Number(process.env.CLOCK_BEHIND_SECONDS || 0) * 1000;
if (behind) {
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() - behind;
}

const dir = process.env.OIDC_PROVIDER_DIR;
const { default: Provider } = await import(pathToFileURL(join(dir, 'node_modules/oidc-provider/lib/index.js')).href);

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.CLIENTS).map((c) => ({
  ...c,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
}));

// Claims as ProConnect (agents: SIRET of their organisation, usual_name) and Pro Santé
// Connect (professionals: SubjectRefPro, their practices and the establishments' FINESS)
// send them.
const accounts = {
  'agent-ars-idf': {
    given_name: 'Camille', usual_name: 'Durand', email: 'camille.durand@ars.sante.fr', siret: '13002526500013',
  },
  'agent-inconnu': {
    given_name: 'Dominique', usual_name: 'Inconnu', email: 'dominique@exemple.fr', siret: '99999999999999',
  },
  'medecin-750000001': {
    given_name: 'Alix', family_name: 'Petit',
    SubjectRefPro: { exercices: [{ activities: [{ numeroFinessSite: '750000001' }, { numeroFinessSite: 'non renseigné' }] }] },
  },
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-1', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [jwk] },
  cookies: { keys: ['caregate-oidc-tests-only'] },
  claims: {
    openid: ['sub'],
    email: ['email'],
    given_name: ['given_name'],
    usual_name: ['usual_name'],
    siret: ['siret'],
    scope_all: ['given_name', 'family_name', 'SubjectRefPro'],
  },
  // PKCE required of every client: a sign-in without it fails.
  pkce: { required: () => true },
  // Short, so that a clock 15 minutes behind issues tokens already expired.
  ttl: { IdToken: 300 },
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
});

const wrongAudience = process.env.WRONG_AUDIENCE_CLIENT;
if (wrongAudience) {
  const issue = provider.IdToken.prototype.issue;
  provider.IdToken.prototype.issue = function issueFor(options) {
    if (options?.use === 'idtoken' && this.client?.clientId === wrongAudience) {
      const client = this.client;
      this.client = new Proxy(client, { get: (t, p) => (p === 'clientId' ? 'un-autre-service' : Reflect.get(t, p)) });
    }
    return issue.call(this, options);
  };
}

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}${behind ? ` (clock ${behind / 1000} s behind)` : ''}`);
});
