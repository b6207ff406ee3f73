import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  OPTIONS,
  loadConfig,
  resolveConfig,
  type ConfigInputs,
  type ConfigResult,
  type FleetConfig,
} from '../../lib/config.js';

const FILE = '/etc/fleet/fleet.conf';

function ok(inputs: ConfigInputs): Extract<ConfigResult, { ok: true }> {
  const r = resolveConfig(inputs);
  if (!r.ok) throw new Error(`expected a valid config, got:\n${r.problems.map((p) => p.message).join('\n')}`);
  return r;
}

function problems(inputs: ConfigInputs): string[] {
  const r = resolveConfig(inputs);
  if (r.ok) throw new Error('expected problems, got a valid config');
  return r.problems.map((p) => p.message);
}

const file = (text: string) => ({ path: FILE, text });

describe('lib/config', () => {
  it('defaults are fleet defaults (plus ours)', () => {
    const r = ok({});
    const want: FleetConfig = {
      etcdServers: ['http://127.0.0.1:2379'],
      etcdKeyPrefix: '/fleet/',
      etcdCaFile: undefined,
      etcdCertFile: undefined,
      etcdKeyFile: undefined,
      etcdUsername: undefined,
      etcdPassword: undefined,
      etcdRequestTimeoutMs: 1000,
      publicIp: undefined,
      metadata: {},
      agentTtlSeconds: 30,
      engineReconcileIntervalMs: 2000,
      engineLeaseTtlSeconds: 10,
      unitsDirectory: '/run/fleet/units',
      unitSourceDirectory: undefined,
      disableEngine: false,
      disableAgent: false,
      verbosity: 0,
      machineIdFile: '/etc/machine-id',
      tokenLimit: 100,
      apiUnixSocket: '/var/run/fleet.sock',
      apiTcpAddress: undefined,
      apiTlsCertFile: undefined,
      apiTlsKeyFile: undefined,
      apiTlsCaFile: undefined,
    };
    expect(r.config).to.deep.equal(want);
    expect(r.warnings).to.deep.equal([]);
    expect(r.sources['agent_ttl']).to.deep.equal({ kind: 'default' });
  });

  it('reads every option from fleet.conf', () => {
    const r = ok({
      file: file(
        [
          '# fleet.conf',
          'etcd_servers=https://10.0.0.1:2379,https://10.0.0.2:2379',
          'etcd_key_prefix=/_coreos.com/fleet',
          'etcd_cafile=/etc/ssl/etcd/ca.pem',
          'etcd_certfile=/etc/ssl/etcd/client.pem',
          'etcd_keyfile=/etc/ssl/etcd/client-key.pem',
          'etcd_username=fleet',
          'etcd_password=s3cret',
          'etcd_request_timeout=2.5',
          'public_ip=192.0.2.7',
          'metadata="region=us-west,az=us-west-1"',
          'agent_ttl=1m',
          'engine_reconcile_interval=0.5',
          'engine_lease_ttl=15',
          'units_directory=/var/lib/fleet/units',
          'unit_source_directory=/etc/fleet/units.d',
          'disable_engine=true',
          'disable_agent=true',
          'verbosity=2',
          'machine_id_file=/tmp/machine-id',
          'token_limit=50',
          'api_unix_socket=/run/fleet/api.sock',
          'api_tcp_address=[::1]:49153',
          'api_tls_certfile=/etc/fleet/api.pem',
          'api_tls_keyfile=/etc/fleet/api-key.pem',
          'api_tls_cafile=/etc/fleet/clients-ca.pem',
        ].join('\n'),
      ),
    });
    expect(r.config).to.deep.equal({
      etcdServers: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'],
      etcdKeyPrefix: '/_coreos.com/fleet/',
      etcdCaFile: '/etc/ssl/etcd/ca.pem',
      etcdCertFile: '/etc/ssl/etcd/client.pem',
      etcdKeyFile: '/etc/ssl/etcd/client-key.pem',
      etcdUsername: 'fleet',
      etcdPassword: 's3cret',
      etcdRequestTimeoutMs: 2500,
      publicIp: '192.0.2.7',
      metadata: { region: 'us-west', az: 'us-west-1' },
      agentTtlSeconds: 60,
      engineReconcileIntervalMs: 500,
      engineLeaseTtlSeconds: 15,
      unitsDirectory: '/var/lib/fleet/units',
      unitSourceDirectory: '/etc/fleet/units.d',
      disableEngine: true,
      disableAgent: true,
      verbosity: 2,
      machineIdFile: '/tmp/machine-id',
      tokenLimit: 50,
      apiUnixSocket: '/run/fleet/api.sock',
      apiTcpAddress: { host: '::1', port: 49153 },
      apiTlsCertFile: '/etc/fleet/api.pem',
      apiTlsKeyFile: '/etc/fleet/api-key.pem',
      apiTlsCaFile: '/etc/fleet/clients-ca.pem',
    });
    expect(r.sources['metadata']).to.deep.equal({ kind: 'file', path: FILE, line: 11 });
  });

  it("accepts fleet's three documented metadata quotings", () => {
    for (const line of [
      'metadata="region=us-west,az=us-west-1"',
      "metadata='region=us-west,az=us-west-1'",
      'metadata=region=us-west,az=us-west-1',
    ]) {
      expect(ok({ file: file(line) }).config.metadata, line).to.deep.equal({
        region: 'us-west',
        az: 'us-west-1',
      });
    }
  });

  describe('precedence: default < file < env < flags', () => {
    const table: {
      name: string;
      inputs: ConfigInputs;
      want: Partial<FleetConfig>;
      source: string;
    }[] = [
      { name: 'default only', inputs: {}, want: { agentTtlSeconds: 30 }, source: 'default' },
      {
        name: 'file over default',
        inputs: { file: file('agent_ttl=40s') },
        want: { agentTtlSeconds: 40 },
        source: 'file',
      },
      {
        name: 'env over file',
        inputs: { file: file('agent_ttl=40s'), env: { FLEET_AGENT_TTL: '50s' } },
        want: { agentTtlSeconds: 50 },
        source: 'env',
      },
      {
        name: 'flag over env over file',
        inputs: { file: file('agent_ttl=40s'), env: { FLEET_AGENT_TTL: '50s' }, flags: { agent_ttl: '60s' } },
        want: { agentTtlSeconds: 60 },
        source: 'flag',
      },
      {
        name: 'flag over file, no env',
        inputs: { file: file('verbosity=1'), flags: { verbosity: 2 } },
        want: { verbosity: 2 },
        source: 'flag',
      },
      {
        name: 'an empty env variable does not override (as fleet)',
        inputs: { file: file('public_ip=10.0.0.1'), env: { FLEET_PUBLIC_IP: '' } },
        want: { publicIp: '10.0.0.1' },
        source: 'file',
      },
      {
        name: 'kebab-case and camelCase flags',
        inputs: { flags: { 'etcd-servers': 'http://a:1', disableEngine: true } },
        want: { etcdServers: ['http://a:1'], disableEngine: true },
        source: 'flag',
      },
      {
        name: 'array flag values join as a list',
        inputs: { flags: { etcd_servers: ['http://a:1', 'http://b:2'] } },
        want: { etcdServers: ['http://a:1', 'http://b:2'] },
        source: 'flag',
      },
      {
        name: 'undefined flags (not given) do not override',
        inputs: { env: { FLEET_VERBOSITY: '1' }, flags: { verbosity: undefined, _: [], $0: 'fleetd' } },
        want: { verbosity: 1 },
        source: 'env',
      },
    ];
    for (const t of table) {
      it(t.name, () => {
        const r = ok(t.inputs);
        for (const [k, v] of Object.entries(t.want))
          expect(r.config[k as keyof FleetConfig], k).to.deep.equal(v);
        const option = OPTIONS.find((o) => o.field === Object.keys(t.want)[0])!;
        expect(r.sources[option.name]!.kind).to.equal(t.source);
      });
    }
  });

  describe('every bad value names the option, its source and what is allowed', () => {
    const bad: [option: string, value: string, why: string][] = [
      ['etcd_servers', '127.0.0.1:2379', 'is not http:// or https://'],
      ['etcd_key_prefix', 'fleet', 'does not start with "/"'],
      ['etcd_cafile', 'a\0b', 'NUL'],
      ['etcd_certfile', 'a\0b', 'NUL'],
      ['etcd_keyfile', 'a\0b', 'NUL'],
      ['etcd_request_timeout', 'soon', 'not a number with a unit'],
      ['public_ip', '300.1.1.1', 'not an IPv4 or IPv6 address'],
      ['metadata', 'region', 'not key=value'],
      ['agent_ttl', 'half a minute', 'not a number with a unit'],
      ['engine_reconcile_interval', '-1', 'negative'],
      ['engine_lease_ttl', '1s', 'shortest lease'],
      ['units_directory', 'run/fleet', 'not an absolute path'],
      ['unit_source_directory', 'etc/fleet/units.d', 'not an absolute path'],
      ['disable_engine', 'yes', 'not a boolean'],
      ['disable_agent', 'maybe', 'not a boolean'],
      ['verbosity', '-1', 'whole number'],
      ['machine_id_file', 'machine-id', 'not an absolute path'],
      ['token_limit', '70000', 'not between 1 and 65535'],
      ['api_unix_socket', 'fleet.sock', 'not an absolute path'],
      ['api_tcp_address', 'localhost', 'not host:port'],
      ['api_tls_certfile', 'a\0b', 'NUL'],
      ['api_tls_keyfile', 'a\0b', 'NUL'],
      ['api_tls_cafile', 'a\0b', 'NUL'],
    ];
    const sources: [string, (option: string, value: string) => ConfigInputs, string][] = [
      ['file', (o, v) => ({ file: file(`# comment\n${o}=${JSON.stringify(v)}`) }), `${FILE}:2`],
      ['env', (o, v) => ({ env: { [`FLEET_${o.toUpperCase()}`]: v } }), 'environment variable FLEET_'],
      ['flag', (o, v) => ({ flags: { [o]: v } }), 'flag --'],
    ];
    for (const [option, value, why] of bad) {
      for (const [kind, make, where] of sources) {
        it(`${option} from ${kind}`, () => {
          const msgs = problems(make(option, value));
          expect(msgs).to.have.length(1);
          const allowed = OPTIONS.find((o) => o.name === option)!.allowed;
          expect(msgs[0])
            .to.contain(option)
            .and.contain(where)
            .and.contain(why)
            .and.contain(`allowed: ${allowed}`);
          if (kind === 'flag') expect(msgs[0]).to.contain(`--${option.replace(/_/g, '-')}`);
          if (kind === 'env') expect(msgs[0]).to.contain(`FLEET_${option.toUpperCase()}`);
        });
      }
    }

    it('covers every option that can be wrong', () => {
      const free = ['etcd_username', 'etcd_password']; // any text is a valid user name or password
      expect(bad.map((b) => b[0]).sort()).to.deep.equal(
        OPTIONS.map((o) => o.name)
          .filter((n) => !free.includes(n))
          .sort(),
      );
    });
  });

  it('collects ALL problems from all sources, even values later overridden', () => {
    const msgs = problems({
      file: file('agent_ttl=forever\nverbosity=loud\nthis line is junk\npublic_ip=10.0.0.1'),
      env: { FLEET_PUBLIC_IP: 'nowhere', FLEET_AGENT_TTL: '40s' },
      flags: { disable_engine: 'maybe' },
    });
    expect(msgs).to.have.length(5);
    expect(msgs.join('\n'))
      .to.contain(`${FILE}:1: agent_ttl="forever"`)
      .and.contain(`${FILE}:2: verbosity="loud"`)
      .and.contain(`${FILE}:3: "this line is junk" is not option=value`)
      .and.contain('environment variable FLEET_PUBLIC_IP: public_ip="nowhere"')
      .and.contain('flag --disable-engine: disable_engine="maybe"');
  });

  it('never shows the password', () => {
    // Options accept any password; the cross-check message must still not echo it.
    const msgs = problems({ env: { FLEET_ETCD_PASSWORD: 'hunter2' } });
    expect(msgs).to.have.length(1);
    expect(msgs[0]).to.contain('etcd_password is set but etcd_username is not').and.not.contain('hunter2');
  });

  describe('rules across options', () => {
    const table: [string, ConfigInputs, string][] = [
      [
        'cert without key',
        { file: file('etcd_servers=https://a:1\netcd_certfile=/c.pem') },
        `${FILE}:2: etcd_certfile is set but etcd_keyfile is not`,
      ],
      [
        'key without cert',
        { env: { FLEET_ETCD_SERVERS: 'https://a:1', FLEET_ETCD_KEYFILE: '/k.pem' } },
        'environment variable FLEET_ETCD_KEYFILE: etcd_keyfile is set',
      ],
      [
        'username without password',
        { flags: { 'etcd-username': 'u' } },
        'flag --etcd-username: etcd_username is set but etcd_password is not',
      ],
      [
        'TLS files with http endpoints',
        { file: file('etcd_cafile=/ca.pem') },
        `etcd_cafile set (${FILE}:1) but etcd_servers use http://`,
      ],
    ];
    for (const [name, inputs, want] of table) {
      it(name, () => {
        const msgs = problems(inputs);
        expect(msgs).to.have.length(1);
        expect(msgs[0]).to.contain(want);
      });
    }
  });

  describe('API listener options', () => {
    it('api_unix_socket can be emptied; api_tcp_address takes host:port forms', () => {
      expect(ok({ env: { FLEET_API_UNIX_SOCKET: ' ' } }).config.apiUnixSocket).to.equal(undefined);
      expect(ok({ flags: { apiTcpAddress: ':49153' } }).config.apiTcpAddress).to.deep.equal({
        host: '',
        port: 49153,
      });
      expect(ok({ flags: { 'api-tcp-address': '10.0.0.1:80' } }).config.apiTcpAddress).to.deep.equal({
        host: '10.0.0.1',
        port: 80,
      });
    });

    it('refuses bad listener values, naming the option', () => {
      const p = problems({
        file: file('api_unix_socket=fleet.sock\napi_tcp_address=localhost\ntoken_limit=0'),
      });
      expect(p).to.have.length(3);
      expect(p[0]).to.contain(
        `${FILE}:1: api_unix_socket="fleet.sock" is not allowed: it is not an absolute path`,
      );
      expect(p[1]).to.contain(`${FILE}:2: api_tcp_address="localhost" is not allowed: it is not host:port`);
      expect(p[2]).to.contain(`${FILE}:3: token_limit="0" is not allowed: it is not between 1 and 65535`);
      expect(problems({ flags: { apiTcpAddress: '1.2.3.4:70000' } })[0]).to.contain(
        'port is not between 1 and 65535',
      );
      expect(problems({ flags: { apiTcpAddress: '[1.2.3.4]:1' } })[0]).to.contain('is not an IPv6 address');
    });

    it('TLS needs certificate and key together, a TCP listener, and a CA only with TLS', () => {
      expect(problems({ flags: { api_tls_certfile: '/c.pem', apiTcpAddress: ':1' } })[0]).to.contain(
        'api_tls_certfile is set but api_tls_keyfile is not',
      );
      expect(problems({ flags: { api_tls_certfile: '/c.pem', api_tls_keyfile: '/k.pem' } })[0]).to.contain(
        'api_tcp_address is not',
      );
      expect(problems({ flags: { api_tls_cafile: '/ca.pem' } })[0]).to.contain(
        'api_tls_cafile (client-certificate checking) needs TLS',
      );
      const good = ok({
        flags: {
          api_tls_certfile: '/c.pem',
          api_tls_keyfile: '/k.pem',
          api_tls_cafile: '/ca.pem',
          apiTcpAddress: ':1',
        },
      });
      expect(good.config.apiTlsCaFile).to.equal('/ca.pem');
    });
  });

  describe('warnings (the configuration still loads)', () => {
    it('unknown option in the file, with file:line and a suggestion', () => {
      const r = ok({ file: file('\netcd_server=http://a:1') });
      expect(r.warnings).to.deep.equal([
        `${FILE}:2: unknown option "etcd_server" is ignored (did you mean etcd_servers?)`,
      ]);
      expect(r.config.etcdServers).to.deep.equal(['http://127.0.0.1:2379']);
    });

    it('fleet options fleet-ts does not use, options inside a [section], repeated options', () => {
      const r = ok({ file: file('disable_watches=true\nverbosity=1\nverbosity=2\n[extra]\nagent_ttl=5s') });
      expect(r.warnings).to.have.length(3);
      expect(r.warnings[0]).to.contain(`${FILE}:1: fleet option "disable_watches" is ignored`);
      expect(r.warnings[1]).to.contain(`${FILE}:3: "verbosity" is set again (first at line 2)`);
      expect(r.warnings[2]).to.contain(`${FILE}:5: "agent_ttl" is in section [extra] and is ignored`);
      expect(r.config.verbosity).to.equal(2);
      expect(r.config.agentTtlSeconds).to.equal(30);
    });

    it('unknown FLEET_* environment variables', () => {
      const r = ok({ env: { FLEET_VERBOSTY: '1', PATH: '/bin', FLEET_DISABLE_WATCHES: 'true' } });
      expect(r.warnings).to.have.length(2);
      expect(r.warnings.join('\n'))
        .to.contain('FLEET_VERBOSTY is not a fleet option and is ignored (did you mean verbosity?)')
        .and.contain('FLEET_DISABLE_WATCHES is ignored by fleet-ts');
    });

    it('a repeated metadata key', () => {
      const r = ok({ flags: { metadata: 'a=1,a=2' } });
      expect(r.config.metadata).to.deep.equal({ a: '2' });
      expect(r.warnings).to.deep.equal([
        'flag --metadata: metadata: metadata key "a" is given more than once; the last value "2" wins',
      ]);
    });
  });

  describe('loadConfig (reads the file)', () => {
    const noFile = (p: string): string => {
      throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    };
    const notDir = () => false;

    it('without a default file: defaults, env and flags', () => {
      const { config, file: used } = loadConfig({
        readFile: noFile,
        isDirectory: noFile as unknown as () => boolean,
        env: { FLEET_VERBOSITY: '1' },
      });
      expect(config.verbosity).to.equal(1);
      expect(used).to.equal(undefined);
    });

    it('a --config file that does not exist is an error naming it', () => {
      expect(() =>
        loadConfig({ flags: { config: '/nope/fleet.conf' }, readFile: noFile, isDirectory: notDir }),
      )
        .to.throw(ConfigError)
        .with.property('message')
        .that.contains('/nope/fleet.conf does not exist (given with --config)');
    });

    it('a --config directory is an error', () => {
      expect(() => loadConfig({ configPath: '/etc', isDirectory: () => true }))
        .to.throw(ConfigError)
        .with.property('message')
        .that.contains('/etc is a directory');
    });

    it('throws one ConfigError listing every problem', () => {
      let err: unknown;
      try {
        loadConfig({
          configPath: '/x/fleet.conf',
          readFile: () => 'agent_ttl=1\nverbosity=x\n',
          isDirectory: notDir,
        });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.code).to.equal('CONFIG_INVALID');
      expect(e.retryable).to.equal(false);
      expect(e.problems).to.have.length(2);
      expect(e.message).to.match(
        /^invalid configuration \(2 problems\):\n {2}- \/x\/fleet\.conf:1: agent_ttl/,
      );
      expect(e.message).to.contain('\n  - /x/fleet.conf:2: verbosity');
    });

    it('reads a real file given with --config', () => {
      const dir = mkdtempSync(join(tmpdir(), 'fleet-conf-'));
      try {
        const path = join(dir, 'fleet.conf');
        writeFileSync(path, 'metadata=role=web\nagent_ttl=20s\n');
        const { config, file: used } = loadConfig({
          flags: { config: path },
          env: { FLEET_AGENT_TTL: '25s' },
        });
        expect(used).to.equal(path);
        expect(config.metadata).to.deep.equal({ role: 'web' });
        expect(config.agentTtlSeconds).to.equal(25);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      expect(existsSync(dir)).to.equal(false);
    });
  });
});

describe('docs/configuration.md', () => {
  it('documents every option', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    for (const o of OPTIONS) expect(doc, o.name).to.contain(`\`${o.name}\``);
  });
});
