// The load harness of bench/run.sh: starts the upstreams (nginx, fake_upstream), then runs
// every scenario against the gateway and against the nginx reference hop in alternating
// rounds, and prints one table. No npm packages: Node's standard library only.
//
//   node bench/harness.mjs --build DIR [--quick] [--rounds N] [--duration S] [--only a,b]
//                          [--slow-seconds S] [--slow-clients N] [--keep] [--out FILE.json]
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

// ---------------------------------------------------------------------------------------
// Options

const argv = process.argv.slice(2);
const opt = {
  build: path.join(root, 'build', 'bench'),
  quick: false,
  rounds: null,
  duration: null,
  warmup: null,
  only: null,
  slowSeconds: null,
  slowClients: 1000,
  slowIntervalMs: 100,
  keep: false,
  out: null,
  profile: null,
  portBase: Number(process.env.BENCH_PORT_BASE || 18100),
  wrkConnections: 32,
};
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
    return argv[++i];
  };
  if (a === '--build') opt.build = path.resolve(val());
  else if (a === '--quick') opt.quick = true;
  else if (a === '--rounds') opt.rounds = Number(val());
  else if (a === '--duration') opt.duration = Number(val());
  else if (a === '--warmup') opt.warmup = Number(val());
  else if (a === '--only') opt.only = val().split(',');
  else if (a === '--slow-seconds') opt.slowSeconds = Number(val());
  else if (a === '--slow-clients') opt.slowClients = Number(val());
  else if (a === '--keep') opt.keep = true;
  else if (a === '--out') opt.out = path.resolve(val());
  else if (a === '--profile') opt.profile = val();
  else throw new Error(`unknown option ${a}`);
}
opt.rounds ??= opt.quick ? 1 : 3;
opt.duration ??= opt.quick ? 2 : 5;
opt.warmup ??= 1; // wrk takes whole seconds
opt.slowSeconds ??= opt.quick ? 10 : 30;
const ttfbN = opt.quick ? 500 : 2000;
const idleRounds = opt.quick ? 2 : 5;

const ports = {
  nginxUp: opt.portBase + 1,
  fake: opt.portBase + 2,
  hop: opt.portBase + 3,
  gateway: opt.portBase + 4,
};
const bins = {
  gateway: process.env.BENCH_GATEWAY || path.join(opt.build, 'aiclient-server'),
  fake: path.join(opt.build, 'bench', 'fake_upstream'),
  client: path.join(opt.build, 'bench', 'bench_client'),
  fixtures: path.join(opt.build, 'bench', 'bench_fixtures'),
};
for (const [k, f] of Object.entries(bins)) {
  if (!fs.existsSync(f)) throw new Error(`missing ${k} binary ${f}: build it first (bench/run.sh does)`);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aiclient-bench-'));
const clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ---------------------------------------------------------------------------------------
// Processes

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = new Set();

function run(cmd, args, { timeoutMs = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(p);
    let out = '', err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    let timer = null;
    if (timeoutMs) timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      children.delete(p);
      if (timer) clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

// Starts `cmd` through `bench_client startup` (which measures the time to the first 200 on
// /health) and resolves with { pid, readyMs, stop() }.
function launch(name, cmd, args, port, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const logFile = path.join(tmp, `${name}.log`);
    const p = spawn(bins.client, ['startup', '--port', String(port), '--path', '/health',
      '--timeout-ms', String(timeoutMs), '--log', logFile, '--', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(p);
    let buf = '', settled = false;
    const exited = new Promise((r) => p.on('close', (code) => { children.delete(p); r(code); }));
    p.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0 || settled) return;
      settled = true;
      const info = JSON.parse(buf.slice(0, nl));
      if (info.ready_ms == null) {
        reject(new Error(`${name} did not start (${info.error}); see ${logFile}:\n` +
          (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : '')));
        return;
      }
      resolve({
        name, pid: info.pid, readyMs: info.ready_ms, logFile,
        async stop() {
          try { process.kill(info.pid, 'SIGTERM'); } catch { /* gone */ }
          const t = setTimeout(() => { try { process.kill(info.pid, 'SIGKILL'); } catch { /* gone */ } }, Math.max(10000, timeoutMs));
          await exited;
          clearTimeout(t);
        },
      });
    });
    p.stderr.on('data', (d) => process.stderr.write(d));
    p.on('close', () => {
      if (!settled) {
        settled = true;
        reject(new Error(`${name} launcher exited; see ${logFile}`));
      }
    });
  });
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// ---------------------------------------------------------------------------------------
// /proc readings

function procStat(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
}

function childrenOf(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try { if (procStat(d).ppid === pid) out.push(Number(d)); } catch { /* raced */ }
  }
  return out;
}

// The process and (for nginx) its workers.
function pidsOf(proc) { return proc.multi ? [proc.pid, ...childrenOf(proc.pid)] : [proc.pid]; }

function cpuTicks(pids) {
  let t = 0;
  for (const p of pids) { try { t += procStat(p).ticks; } catch { /* gone */ } }
  return t;
}

function statusKb(pids, field) {
  let kb = 0;
  for (const p of pids) {
    try {
      const m = fs.readFileSync(`/proc/${p}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
      if (m) kb += Number(m[1]);
    } catch { /* gone */ }
  }
  return kb;
}

// ---------------------------------------------------------------------------------------
// Fixtures, configs

const fx = (name) => path.join(tmp, 'fixtures', name);

function nginxCommon(name) {
  const user = process.getuid && process.getuid() === 0 ? 'user root;\n' : '';
  return `${user}daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 65536;
pid ${tmp}/${name}.pid;
error_log ${tmp}/${name}.error.log warn;
events { worker_connections 4096; }
`;
}
function nginxTemps(name) {
  return `  access_log off;
  client_body_temp_path ${tmp}/${name}-body;
  proxy_temp_path ${tmp}/${name}-proxy;
  fastcgi_temp_path ${tmp}/${name}-fastcgi;
  uwsgi_temp_path ${tmp}/${name}-uwsgi;
  scgi_temp_path ${tmp}/${name}-scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_max_body_size 4m;
  client_body_buffer_size 256k;
`;
}
const nginxString = (s) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function writeConfigs() {
  const completion = fs.readFileSync(fx('openai_completion.json'), 'utf8');
  const message = fs.readFileSync(fx('anthropic_message.json'), 'utf8');
  if (completion.includes('$') || message.includes('$')) throw new Error('answers must not hold $ (nginx variables)');
  fs.writeFileSync(path.join(tmp, 'nginx-up.conf'), `${nginxCommon('nginx-up')}
http {
${nginxTemps('nginx-up')}
  server {
    listen 127.0.0.1:${ports.nginxUp} backlog=4096;
    location = /v1/chat/completions { default_type application/json; return 200 ${nginxString(completion)}; }
    location = /v1/messages { default_type application/json; return 200 ${nginxString(message)}; }
    location = /health { return 200 'ok'; }
  }
}
`);
  // The reference hop: nginx as a reverse proxy with pooled HTTP/1.1 upstream connections.
  fs.writeFileSync(path.join(tmp, 'nginx-hop.conf'), hopConf('nginx-hop'));
  fs.writeFileSync(path.join(tmp, 'nginx-hop-single.conf'),
    hopConf('nginx-hop').replace('master_process on;', 'master_process off;').replace('worker_processes 2;', 'worker_processes 1;'));
}

function hopConf(name) {
  return `${nginxCommon(name)}
http {
${nginxTemps('nginx-hop')}
  upstream up_nginx { server 127.0.0.1:${ports.nginxUp}; keepalive 64; keepalive_requests 1000000; }
  upstream up_fake { server 127.0.0.1:${ports.fake}; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${ports.hop} backlog=4096;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    location = /health { return 200 'ok'; }
    location /fake/ { proxy_pass http://up_fake/; proxy_buffering off; }
    location / { proxy_pass http://up_nginx; }
  }
}
`;
}

// provider_pools.json for one gateway run: `n` instances of each type.
function writePools(file, openaiBase, claudeBase, nOpenai = 2, nClaude = 2) {
  const pools = { 'openai-custom': [] };
  if (nClaude) pools['claude-custom'] = [];
  for (let i = 0; i < nOpenai; i++) {
    pools['openai-custom'].push({ customName: `bench openai ${i}`, OPENAI_API_KEY: `sk-bench-${i}`,
      OPENAI_BASE_URL: openaiBase, uuid: `00000000-0000-4000-8000-0000000000${String(i).padStart(2, '0')}` });
  }
  for (let i = 0; i < nClaude; i++) {
    pools['claude-custom'].push({ customName: `bench claude ${i}`, CLAUDE_API_KEY: `sk-ant-bench-${i}`,
      CLAUDE_BASE_URL: claudeBase, uuid: `00000000-0000-4000-9000-0000000000${String(i).padStart(2, '0')}` });
  }
  fs.writeFileSync(file, JSON.stringify(pools, null, 2));
}

let gatewayRuns = 0;
const startupSamples = [];

async function startGateway(openaiBase, claudeBase, instances = 2, wrapper = null) {
  const file = path.join(tmp, `pools-${++gatewayRuns}.json`);
  // The idle measurement uses one type with `instances` accounts; the scenarios 2 + 2.
  if (instances === 2) writePools(file, openaiBase, claudeBase, 2, 2);
  else writePools(file, openaiBase, claudeBase, instances, 0);
  const args = ['--port', String(ports.gateway),
    '--provider-pools-file', file, '--model-provider', 'openai-custom', '--log-level', 'warn',
    '--health-check-enabled', 'false', '--request-max-retries', '0'];
  const g = wrapper
    ? await launch(`gateway-${gatewayRuns}`, wrapper[0], [...wrapper.slice(1), bins.gateway, ...args], ports.gateway, 120000)
    : await launch(`gateway-${gatewayRuns}`, bins.gateway, args, ports.gateway);
  if (!wrapper) startupSamples.push({ target: 'gateway', instances, readyMs: g.readyMs });
  g.multi = false;
  g.port = ports.gateway;
  return g;
}

async function startHop(wrapper = null) {
  // Under valgrind: one process (master_process off), so that one profile holds the work.
  const h = wrapper
    ? await launch('nginx-hop', wrapper[0], [...wrapper.slice(1), 'nginx', '-p', tmp, '-c',
      path.join(tmp, 'nginx-hop-single.conf'), '-e', path.join(tmp, 'nginx-hop.error.log')], ports.hop, 120000)
    : await launch('nginx-hop', 'nginx', ['-p', tmp, '-c', path.join(tmp, 'nginx-hop.conf'),
      '-e', path.join(tmp, 'nginx-hop.error.log')], ports.hop);
  if (!wrapper) startupSamples.push({ target: 'nginx', readyMs: h.readyMs });
  h.multi = true;
  h.port = ports.hop;
  return h;
}

// ---------------------------------------------------------------------------------------
// wrk

function wrkScript(name, bodyFile, headers) {
  const f = path.join(tmp, `wrk-${name}.lua`);
  let s = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n';
  for (const [k, v] of Object.entries(headers || {})) s += `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}\n`;
  s += `local f = assert(io.open(${JSON.stringify(bodyFile)}, "rb"))\nwrk.body = f:read("*a")\nf:close()\n`;
  fs.writeFileSync(f, s);
  return f;
}

function toMs(v, unit) {
  const x = Number(v);
  return unit === 'us' ? x / 1000 : unit === 'ms' ? x : unit === 's' ? x * 1000 : unit === 'm' ? x * 60000 : x;
}

function parseWrk(out) {
  const r = { rps: 0, requests: 0, p50: null, p99: null, non2xx: 0, socketErrors: 0, raw: out };
  const m = out.match(/Requests\/sec:\s+([\d.]+)/);
  if (m) r.rps = Number(m[1]);
  const n = out.match(/(\d+) requests in/);
  if (n) r.requests = Number(n[1]);
  for (const [pct, key] of [['50', 'p50'], ['99', 'p99']]) {
    const q = out.match(new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm'));
    if (q) r[key] = toMs(q[1], q[2]);
  }
  const e = out.match(/Non-2xx or 3xx responses:\s+(\d+)/);
  if (e) r.non2xx = Number(e[1]);
  const se = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  if (se) r.socketErrors = se.slice(1).reduce((a, b) => a + Number(b), 0);
  return r;
}

async function wrk(port, urlPath, script, seconds, connections = opt.wrkConnections) {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '30s', '-s', script,
    `http://127.0.0.1:${port}${urlPath}`];
  const { out, err } = await run('wrk', args, { timeoutMs: (seconds + 30) * 1000 });
  if (!/Requests\/sec/.test(out)) throw new Error(`wrk failed: ${err || out}`);
  return parseWrk(out);
}

// One measured wrk run against a proxy started for it (fresh process: its peak RSS belongs
// to this run), with CPU from /proc/<pid>/stat deltas.
async function measureThroughput(proc, spec, script, perfFile = null, callgrind = false, straceFile = null) {
  // Under callgrind the gateway runs ~50x slower: a few connections only.
  const conns = callgrind ? 4 : opt.wrkConnections;
  if (opt.warmup > 0) await wrk(proc.port, spec.path, script, opt.warmup, conns);
  const pids = pidsOf(proc);
  // With --profile callgrind: instrument only the measured run (not start-up, not warm-up).
  if (callgrind) await run('callgrind_control', ['-i', 'on', String(proc.pid)], { timeoutMs: 60000 });
  const t0 = cpuTicks(pids);
  // With --profile perf: sample the process while wrk runs (software clock: no hardware
  // counters in these VMs).
  const perf = perfFile ? run('perf', ['record', '-e', 'cpu-clock', '-F', '1999', '-g', '-p', pids.join(','),
    '-o', perfFile, '--', 'sleep', String(opt.duration)], { timeoutMs: (opt.duration + 60) * 1000 }) : null;
  // With --profile strace: count the system calls of the measured run (strace -c).
  const strace = straceFile ? run('timeout', ['-s', 'INT', String(opt.duration + 1), 'strace', '-c', '-f',
    ...pids.flatMap((p) => ['-p', String(p)]), '-o', straceFile], { timeoutMs: (opt.duration + 30) * 1000 }) : null;
  const w = await wrk(proc.port, spec.path, script, opt.duration, conns);
  const t1 = cpuTicks(pids);
  if (strace) await strace;
  if (callgrind) {
    await run('callgrind_control', ['-d', String(proc.pid)], { timeoutMs: 120000 });
    await run('callgrind_control', ['-i', 'off', String(proc.pid)], { timeoutMs: 60000 });
  }
  if (perf) {
    const r = await perf;
    if (r.code !== 0) log(`perf record failed: ${r.err.slice(0, 500)}`);
  }
  const hwmKb = statusKb(pidsOf(proc), 'VmHWM');
  return {
    rps: w.rps, p50: w.p50, p99: w.p99, requests: w.requests, non2xx: w.non2xx,
    socketErrors: w.socketErrors,
    cpuUsPerReq: w.requests ? ((t1 - t0) / clkTck) * 1e6 / w.requests : null,
    cpuTicks: t1 - t0,
    hwmMb: hwmKb / 1024,
  };
}

// ---------------------------------------------------------------------------------------
// Scenarios

const up = {
  nginxOpenai: `http://127.0.0.1:${ports.nginxUp}/v1`,
  nginxClaude: `http://127.0.0.1:${ports.nginxUp}`,
  fakeOpenai: `http://127.0.0.1:${ports.fake}/v1`,
  fakeClaude: `http://127.0.0.1:${ports.fake}`,
};
const ANTHROPIC = { 'anthropic-version': '2023-06-01' };
const TO_CLAUDE = { 'Model-Provider': 'claude-custom' };

const scenarios = [
  { id: 'small-pass', title: 'small pass-through: OpenAI -> openai-custom (2 instances)',
    upstream: [up.nginxOpenai, up.nginxClaude], direct: true,
    gw: { path: '/v1/chat/completions', body: 'small_openai.json' },
    ng: { path: '/v1/chat/completions', body: 'small_openai.json' } },
  { id: 'small-conv-a2o', title: 'small conversion: Anthropic client -> openai-custom',
    upstream: [up.nginxOpenai, up.nginxClaude],
    gw: { path: '/v1/messages', body: 'small_anthropic.json', headers: ANTHROPIC },
    ng: { path: '/v1/chat/completions', body: 'small_openai.json' } },
  { id: 'small-conv-o2a', title: 'small conversion: OpenAI client -> claude-custom',
    upstream: [up.nginxOpenai, up.nginxClaude],
    gw: { path: '/v1/chat/completions', body: 'small_openai.json', headers: TO_CLAUDE },
    ng: { path: '/v1/chat/completions', body: 'small_openai.json' } },
  { id: 'large-pass', title: 'large 115 KB coding-agent request, pass-through (OpenAI)',
    upstream: [up.nginxOpenai, up.nginxClaude],
    gw: { path: '/v1/chat/completions', body: 'large_openai.json' },
    ng: { path: '/v1/chat/completions', body: 'large_openai.json' } },
  { id: 'large-conv', title: 'large 115 KB coding-agent request, Anthropic client -> openai-custom',
    upstream: [up.nginxOpenai, up.nginxClaude],
    gw: { path: '/v1/messages', body: 'large_anthropic.json', headers: ANTHROPIC },
    ng: { path: '/v1/messages', body: 'large_anthropic.json' } },
  { id: 'stream-pass', title: 'streaming 20-chunk SSE, relayed (OpenAI -> openai-custom)',
    upstream: [up.fakeOpenai, up.fakeClaude], ttfb: { direct: '/v1/chat/completions', body: 'small_openai_stream.json' },
    gw: { path: '/v1/chat/completions', body: 'small_openai_stream.json' },
    ng: { path: '/fake/v1/chat/completions', body: 'small_openai_stream.json' } },
  { id: 'stream-conv-a2o', title: 'streaming 20-chunk SSE, converted: Anthropic client -> openai-custom',
    upstream: [up.fakeOpenai, up.fakeClaude], ttfb: { direct: '/v1/chat/completions', body: 'small_openai_stream.json' },
    gw: { path: '/v1/messages', body: 'small_anthropic_stream.json', headers: ANTHROPIC },
    ng: { path: '/fake/v1/chat/completions', body: 'small_openai_stream.json' } },
  { id: 'stream-conv-o2a', title: 'streaming 20-chunk SSE, converted: OpenAI client -> claude-custom',
    upstream: [up.fakeOpenai, up.fakeClaude], ttfb: { direct: '/v1/messages', body: 'small_anthropic_stream.json' },
    gw: { path: '/v1/chat/completions', body: 'small_openai_stream.json', headers: TO_CLAUDE },
    ng: { path: '/fake/v1/messages', body: 'small_anthropic_stream.json' } },
];
const wanted = (id) => !opt.only || opt.only.some((o) => id === o || id.startsWith(o));

const results = { machine: {}, options: { ...opt, ttfbN, idleRounds }, throughput: {}, ttfb: {}, slow: {}, idle: {}, micro: null };

async function runThroughput(sc) {
  const res = { title: sc.title, gateway: [], nginx: [], direct: [], error: null };
  const gwScript = wrkScript(`${sc.id}-gw`, fx(sc.gw.body), sc.gw.headers);
  const ngScript = wrkScript(`${sc.id}-ng`, fx(sc.ng.body), sc.ng.headers);
  let profiledRequests = 0;
  for (let round = 0; round < opt.rounds; round++) {
    const order = round % 2 === 0 ? ['gateway', 'nginx'] : ['nginx', 'gateway'];
    for (const target of order) {
      const prof = round === 0 ? opt.profile : null;
      const tag = `${sc.id}-${target}`;
      const wrapper = prof === 'callgrind'
        ? ['valgrind', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${path.join(opt.build, `callgrind-${tag}.out`)}`]
        : null;
      const perfFile = prof === 'perf' ? path.join(opt.build, `perf-${tag}.data`) : null;
      const straceFile = prof === 'strace' ? path.join(opt.build, `strace-${tag}.txt`) : null;
      const proc = target === 'gateway' ? await startGateway(...sc.upstream, 2, wrapper) : await startHop(wrapper);
      try {
        const m = await measureThroughput(proc, target === 'gateway' ? sc.gw : sc.ng,
          target === 'gateway' ? gwScript : ngScript, perfFile, prof === 'callgrind', straceFile);
        if (prof) {
          m.profiled = prof;
          profiledRequests = m.requests;
        }
        res[target].push(m);
        log(`${sc.id} round ${round + 1} ${target}: ${m.rps.toFixed(0)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, ` +
          `${m.cpuUsPerReq?.toFixed(1)} us CPU/req, ${m.hwmMb.toFixed(1)} MB` +
          (m.non2xx ? `, ${m.non2xx} non-2xx` : '') + (m.socketErrors ? `, ${m.socketErrors} socket errors` : ''));
      } finally {
        await proc.stop();
      }
      if (prof) await profileReport(tag, prof, profiledRequests);
    }
    if (sc.direct) {
      // The upstream itself (no hop), for reference.
      const m = await wrk(ports.nginxUp, sc.ng.path, ngScript, opt.duration);
      res.direct.push({ rps: m.rps, p50: m.p50, p99: m.p99, requests: m.requests, non2xx: m.non2xx });
      log(`${sc.id} round ${round + 1} direct: ${m.rps.toFixed(0)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms`);
    }
  }
  const bad = res.gateway.find((m) => m.non2xx > 0 || m.rps === 0);
  if (bad) {
    // Find out what the gateway answers, to report it.
    const g = await startGateway(...sc.upstream);
    try {
      const bodyOut = path.join(tmp, `error-${sc.id}.txt`);
      const r = await run('curl', ['-s', '-o', bodyOut, '-w', '%{http_code}', '-X', 'POST',
        ...Object.entries({ 'Content-Type': 'application/json', ...(sc.gw.headers || {}) }).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
        '--data-binary', `@${fx(sc.gw.body)}`, `http://127.0.0.1:${ports.gateway}${sc.gw.path}`]);
      const answer = fs.existsSync(bodyOut) ? fs.readFileSync(bodyOut, 'utf8').slice(0, 300) : '';
      res.error = `gateway answered HTTP ${r.out.trim()}: ${answer}`;
    } catch (e) {
      res.error = `gateway answered non-2xx (${bad.non2xx} of ${bad.requests})`;
    } finally {
      await g.stop();
    }
    log(`${sc.id}: ${res.error}`);
  }
  results.throughput[sc.id] = res;
}

// Writes the profile of the gateway on a scenario as text next to the results.
async function profileReport(tag, prof, requests) {
  const outFile = path.join(opt.build, `profile-${prof}-${tag}.txt`);
  let text;
  if (prof === 'strace') {
    // Calls per request, from the strace -c table (strace slows the process: only counts matter).
    const raw = fs.readFileSync(path.join(opt.build, `strace-${tag}.txt`), 'utf8');
    const lines = [];
    let total = 0;
    for (const m of raw.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/gm)) {
      if (m[2] === 'total') continue;
      const per = Number(m[1]) / Math.max(1, requests);
      total += per;
      if (per >= 0.05) lines.push(`${m[2].padEnd(20)} ${per.toFixed(2)}`);
    }
    text = `# system calls per request of ${tag} (strace -c -f during the measured run, ${requests} requests)\n` +
      `${lines.join('\n')}\n${'total'.padEnd(20)} ${total.toFixed(2)}\n\n${raw}`;
  } else if (prof === 'perf') {
    const data = path.join(opt.build, `perf-${tag}.data`);
    const self = await run('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', 'dso,symbol',
      '--percent-limit', '0.7', '-g', 'none'], { timeoutMs: 300000 });
    const dso = await run('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', 'dso',
      '-g', 'none'], { timeoutMs: 300000 });
    text = `# perf (cpu-clock, 1999 Hz) of ${tag}: self time by shared object\n${dso.out}\n` +
      `# self time by symbol (>= 0.7%)\n${self.out}`;
  } else {
    // The dump of the measured run (callgrind_control -d): <file>.1 (or the largest part).
    const base = `callgrind-${tag}.out`;
    const parts = fs.readdirSync(opt.build).filter((f) => f.startsWith(base))
      .map((f) => path.join(opt.build, f)).sort((a, b) => fs.statSync(b).size - fs.statSync(a).size);
    const out = parts[0];
    const r = await run('callgrind_annotate', ['--inclusive=no', '--threshold=95', out], { timeoutMs: 300000 });
    const inc = await run('callgrind_annotate', ['--inclusive=yes', '--threshold=90', out], { timeoutMs: 300000 });
    const total = Number((r.out.match(/^([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS/m) || [, '0'])[1].replace(/,/g, ''));
    text = `# callgrind (instructions, user space only) of ${tag}, measured run only: ` +
      `${requests} requests, ${requests ? Math.round(total / requests) : '?'} instructions per request\n` +
      `# self\n${r.out}\n# inclusive\n${inc.out}`;
  }
  fs.writeFileSync(outFile, text);
  log(`profile of ${tag}: ${outFile}`);
}

async function clientJson(args, timeoutMs) {
  const { code, out, err } = await run(bins.client, args, { timeoutMs });
  const line = out.trim().split('\n').pop();
  try { return JSON.parse(line); } catch { throw new Error(`bench_client ${args[0]} failed (${code}): ${err}${out}`); }
}

async function ttfbRun(port, urlPath, body, headers) {
  const hs = Object.entries(headers || {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  return clientJson(['ttfb', '--port', String(port), '--path', urlPath, '--body', fx(body),
    '-n', String(ttfbN), '--warmup', String(Math.round(ttfbN / 10)), ...hs], 120000);
}

// Time to first byte, sequential requests: direct to the fake upstream, through the nginx hop,
// through the gateway; alternating rounds.
async function runTtfb(sc) {
  const res = { title: sc.title, direct: [], nginx: [], gateway: [] };
  const hop = await startHop();
  try {
    for (let round = 0; round < opt.rounds; round++) {
      const order = round % 2 === 0 ? ['direct', 'nginx', 'gateway'] : ['gateway', 'nginx', 'direct'];
      for (const target of order) {
        let m;
        if (target === 'direct') m = await ttfbRun(ports.fake, sc.ttfb.direct, sc.ttfb.body);
        else if (target === 'nginx') m = await ttfbRun(ports.hop, sc.ng.path, sc.ng.body, sc.ng.headers);
        else {
          const g = await startGateway(...sc.upstream);
          try { m = await ttfbRun(ports.gateway, sc.gw.path, sc.gw.body, sc.gw.headers); } finally { await g.stop(); }
        }
        res[target].push(m);
        log(`${sc.id} TTFB round ${round + 1} ${target}: p50 ${m.ttfb_p50_us} us, p99 ${m.ttfb_p99_us} us` +
          (m.errors ? `, ${m.errors} errors` : '') + `, status ${JSON.stringify(m.status)}`);
      }
    }
  } finally {
    await hop.stop();
  }
  results.ttfb[sc.id] = res;
}

// 1,000 concurrent slow streams (a chunk every 100 ms for 30 s).
async function runSlow() {
  const seconds = opt.slowSeconds, interval = opt.slowIntervalMs, clients = opt.slowClients;
  const expect = Math.floor((seconds * 1000) / interval);
  const slowPrefix = `/slow/${interval}/${seconds}`;
  const res = { clients, seconds, interval, expect };
  const order = ['gateway', 'nginx', 'direct'];
  for (const target of order) {
    let proc = null, port, urlPath;
    if (target === 'gateway') {
      proc = await startGateway(`http://127.0.0.1:${ports.fake}${slowPrefix}/v1`, up.fakeClaude);
      port = ports.gateway; urlPath = '/v1/chat/completions';
    } else if (target === 'nginx') {
      proc = await startHop();
      port = ports.hop; urlPath = `/fake${slowPrefix}/v1/chat/completions`;
    } else {
      port = ports.fake; urlPath = `${slowPrefix}/v1/chat/completions`;
    }
    let maxRssKb = 0, t0 = 0, sampler = null;
    if (proc) {
      t0 = cpuTicks(pidsOf(proc));
      sampler = setInterval(() => { maxRssKb = Math.max(maxRssKb, statusKb(pidsOf(proc), 'VmRSS')); }, 200);
    }
    try {
      const m = await clientJson(['slow', '--port', String(port), '--path', urlPath, '--body', fx('small_openai_stream.json'),
        '-c', String(clients), '--expect', String(expect), '--ramp-ms', '1000', '--timeout-s', String(seconds + 60)],
        (seconds + 90) * 1000);
      if (proc) {
        clearInterval(sampler);
        m.maxRssMb = maxRssKb / 1024;
        m.hwmMb = statusKb(pidsOf(proc), 'VmHWM') / 1024;
        m.cpuMsPerStream = ((cpuTicks(pidsOf(proc)) - t0) / clkTck) * 1000 / clients;
      }
      res[target] = m;
      log(`slow streams ${target}: ${m.ok}/${clients} ok, ${m.events}/${m.expected_events} events, delay p50 ${m.delay_p50_us} us, ` +
        `p99 ${m.delay_p99_us} us, max ${m.delay_max_us} us` + (proc ? `, RSS max ${m.maxRssMb.toFixed(1)} MB` : ''));
    } finally {
      if (sampler) clearInterval(sampler);
      if (proc) await proc.stop();
    }
  }
  results.slow = res;
}

// Resident memory after start with a 10-instance pool, and start-up to ready.
async function runIdle() {
  const res = { gateway: [], nginx: [] };
  for (let round = 0; round < idleRounds; round++) {
    for (const target of round % 2 === 0 ? ['gateway', 'nginx'] : ['nginx', 'gateway']) {
      const proc = target === 'gateway' ? await startGateway(up.nginxOpenai, up.nginxClaude, 10) : await startHop();
      try {
        await sleep(1000);
        const m = { readyMs: proc.readyMs, rssMb: statusKb(pidsOf(proc), 'VmRSS') / 1024,
          threads: target === 'gateway' ? Number(fs.readFileSync(`/proc/${proc.pid}/status`, 'utf8').match(/^Threads:\s+(\d+)/m)[1]) : null };
        res[target].push(m);
        log(`idle ${target}: ready in ${m.readyMs} ms, RSS ${m.rssMb.toFixed(2)} MB`);
      } finally {
        await proc.stop();
      }
    }
  }
  results.idle = res;
}

// ---------------------------------------------------------------------------------------
// Report

const median = (xs) => {
  const v = xs.filter((x) => x != null && !Number.isNaN(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const max = (xs) => (xs.length ? Math.max(...xs) : null);
const f = (x, d = 0) => (x == null ? '-' : Number(x).toFixed(d));
const ms = (x) => (x == null ? '-' : x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`);

function summarize(list) {
  return {
    rps: median(list.map((m) => m.rps)), p50: median(list.map((m) => m.p50)), p99: median(list.map((m) => m.p99)),
    cpu: median(list.map((m) => m.cpuUsPerReq)), hwm: max(list.map((m) => m.hwmMb ?? 0)),
    non2xx: list.reduce((a, m) => a + (m.non2xx || 0), 0),
  };
}

function report() {
  const rows = [];
  const targets = [];
  const tgt = (name, value, limit, ok, unit) => targets.push({ name, value, limit, ok, unit });
  rows.push('| scenario | target | req/s | p50 | p99 | CPU/req | peak RSS | gateway/nginx |');
  rows.push('|---|---|---:|---:|---:|---:|---:|---|');
  for (const sc of scenarios) {
    const r = results.throughput[sc.id];
    if (!r) continue;
    const g = summarize(r.gateway), n = summarize(r.nginx);
    const ratio = g.rps && n.rps ? `${(g.rps / n.rps).toFixed(2)}x req/s, ${(g.p99 / n.p99).toFixed(2)}x p99` : '-';
    const gNote = r.error ? `**failed**: ${r.error.replace(/\|/g, '/').replace(/\s+/g, ' ').slice(0, 120)}` : ratio;
    if (r.error) rows.push(`| ${sc.id} | gateway | - | - | - | - | - | ${gNote} |`);
    else rows.push(`| ${sc.id} | gateway | ${f(g.rps)} | ${ms(g.p50)} | ${ms(g.p99)} | ${f(g.cpu, 1)} µs | ${f(g.hwm, 1)} MB | ${gNote} |`);
    rows.push(`| ${sc.id} | nginx hop | ${f(n.rps)} | ${ms(n.p50)} | ${ms(n.p99)} | ${f(n.cpu, 1)} µs | ${f(n.hwm, 1)} MB | |`);
    if (r.direct.length) {
      const d = summarize(r.direct);
      rows.push(`| ${sc.id} | upstream direct | ${f(d.rps)} | ${ms(d.p50)} | ${ms(d.p99)} | | | |`);
    }
    const ok = !r.error;
    if (sc.id === 'small-pass') {
      tgt('small pass-through: req/s vs nginx', g.rps / n.rps, '>= 0.8x', ok && g.rps / n.rps >= 0.8, 'x');
      tgt('small pass-through: p99 vs nginx', g.p99 / n.p99, '<= 1.5x', ok && g.p99 / n.p99 <= 1.5, 'x');
      tgt('small pass-through: gateway CPU/request', g.cpu, '<= 25 µs', ok && g.cpu <= 25, 'µs');
      tgt('small pass-through: peak RSS', g.hwm, '< 32 MB', ok && g.hwm < 32, 'MB');
    }
    if (sc.id.startsWith('small-conv')) tgt(`${sc.id}: req/s vs nginx`, ok ? g.rps / n.rps : null, '>= 0.6x', ok && g.rps / n.rps >= 0.6, 'x');
    if (sc.id === 'large-conv') tgt('large converted: gateway CPU/request', ok ? g.cpu : null, '<= 60 µs', ok && g.cpu <= 60, 'µs');
  }
  for (const sc of scenarios) {
    const r = results.ttfb[sc.id];
    if (!r) continue;
    const d = median(r.direct.map((m) => m.ttfb_p50_us)), n = median(r.nginx.map((m) => m.ttfb_p50_us));
    const g = median(r.gateway.map((m) => m.ttfb_p50_us));
    const d99 = median(r.direct.map((m) => m.ttfb_p99_us)), n99 = median(r.nginx.map((m) => m.ttfb_p99_us));
    const g99 = median(r.gateway.map((m) => m.ttfb_p99_us));
    const gErr = r.gateway.reduce((a, m) => a + m.errors + Object.entries(m.status).filter(([s]) => s !== '200').reduce((x, [, c]) => x + c, 0), 0);
    const added = g - d, addedN = n - d;
    rows.push(`| TTFB ${sc.id} | gateway | | ${ms(g / 1000)} | ${ms(g99 / 1000)} | | | ${gErr ? `**${gErr} failed requests** ` : ''}+${f(added, 0)} µs added at p50 (nginx: +${f(addedN, 0)} µs) |`);
    rows.push(`| TTFB ${sc.id} | nginx hop | | ${ms(n / 1000)} | ${ms(n99 / 1000)} | | | |`);
    rows.push(`| TTFB ${sc.id} | upstream direct | | ${ms(d / 1000)} | ${ms(d99 / 1000)} | | | |`);
    tgt(`TTFB added at p50, ${sc.id}`, gErr ? null : added / 1000, '<= 0.2 ms', !gErr && added / 1000 <= 0.2, 'ms');
  }
  if (results.slow.gateway) {
    const s = results.slow;
    for (const target of ['gateway', 'nginx', 'direct']) {
      const m = s[target];
      if (!m) continue;
      const dropped = m.expected_events - m.events;
      const label = target === 'direct' ? 'upstream direct' : target === 'nginx' ? 'nginx hop' : 'gateway';
      rows.push(`| ${s.clients} slow streams (${s.interval} ms x ${s.seconds} s), chunk delay | ${label} | ${f(m.events / m.seconds)} chunks/s | ${ms(m.delay_p50_us / 1000)} | ${ms(m.delay_p99_us / 1000)} | ` +
        `${m.cpuMsPerStream != null ? `${f(m.cpuMsPerStream, 2)} ms/stream` : ''} | ${m.maxRssMb != null ? `${f(m.maxRssMb, 1)} MB` : ''} | ` +
        `${m.ok}/${m.clients} streams ok, ${dropped} chunks missing, max delay ${ms(m.delay_max_us / 1000)} |`);
    }
    const g = s.gateway;
    const clean = g.ok === g.clients && g.events === g.expected_events;
    tgt('1,000 slow streams: memory held', g.maxRssMb, '< 64 MB', g.maxRssMb < 64, 'MB');
    tgt('1,000 slow streams: chunk delay p99', g.delay_p99_us / 1000, '<= 5 ms', g.delay_p99_us / 1000 <= 5, 'ms');
    tgt('1,000 slow streams: nothing dropped', g.expected_events - g.events, '0 chunks missing, 0 streams failed', clean, 'chunks');
  }
  if (results.idle.gateway?.length) {
    const gi = results.idle.gateway, ni = results.idle.nginx;
    const gr = median(gi.map((m) => m.rssMb)), gs = median(gi.map((m) => m.readyMs));
    const nr = median(ni.map((m) => m.rssMb)), ns = median(ni.map((m) => m.readyMs));
    rows.push(`| idle, 10-instance pool: RSS after start / start-up to ready | gateway | | ${ms(gs)} | | | ${f(gr, 1)} MB | ${gi[0].threads} threads |`);
    rows.push(`| idle: RSS after start / start-up to ready | nginx hop | | ${ms(ns)} | | | ${f(nr, 1)} MB | master + 2 workers |`);
    tgt('idle: RSS after start (10 instances)', gr, '< 12 MB', gr < 12, 'MB');
    tgt('idle: start-up to ready', gs, '< 50 ms', gs < 50, 'ms');
  }
  const trows = ['| target | measured | limit | |', '|---|---:|---|---|'];
  for (const t of targets) {
    const v = t.value == null || Number.isNaN(t.value) ? 'not measured' : `${t.value.toFixed(t.unit === 'x' ? 2 : t.unit === 'chunks' ? 0 : 2)} ${t.unit}`;
    trows.push(`| ${t.name} | ${v} | ${t.limit} | ${t.ok ? 'met' : '**missed**'} |`);
  }
  results.targets = targets;
  return { table: rows.join('\n'), targets: trows.join('\n') };
}

// ---------------------------------------------------------------------------------------

async function main() {
  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m) || [])[1];
  results.machine = { nproc: os.cpus().length, cpu, kernel: os.release(), loadavg: os.loadavg(),
    nginx: (await run('nginx', ['-v'])).err.trim(), date: new Date().toISOString() };
  try {
    results.machine.commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD']).toString().trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no']).toString().trim();
    if (dirty) results.machine.commit += ` + uncommitted changes in ${dirty.split('\n').length} file(s)`;
  } catch { /* not a git checkout */ }
  log(`machine: ${results.machine.nproc} cores, ${cpu}, kernel ${results.machine.kernel}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  log(`temp dir ${tmp}; rounds ${opt.rounds}, wrk -t1 -c${opt.wrkConnections} -d${opt.duration}s (+${opt.warmup}s warm-up)`);
  for (const [k, p] of Object.entries(ports)) {
    if (!(await portFree(p))) throw new Error(`port ${p} (${k}) is busy: set BENCH_PORT_BASE to another base`);
  }
  fs.mkdirSync(path.join(tmp, 'fixtures'));
  const fxOut = await run(bins.fixtures, [path.join(tmp, 'fixtures')]);
  if (fxOut.code !== 0) throw new Error(`bench_fixtures failed: ${fxOut.err}`);
  log(`fixtures:\n${fxOut.out.trimEnd()}`);
  writeConfigs();
  const nginxUp = await launch('nginx-up', 'nginx', ['-p', tmp, '-c', path.join(tmp, 'nginx-up.conf'),
    '-e', path.join(tmp, 'nginx-up.error.log')], ports.nginxUp);
  const fake = await launch('fake-upstream', bins.fake, ['--port', String(ports.fake), '--threads', '2'], ports.fake);
  try {
    for (const sc of scenarios) if (wanted(sc.id)) await runThroughput(sc);
    for (const sc of scenarios) if (sc.ttfb && wanted(`ttfb-${sc.id}`) ) await runTtfb(sc);
    if (wanted('slow')) await runSlow();
    if (wanted('idle')) await runIdle();
  } finally {
    await fake.stop();
    await nginxUp.stop();
  }
  results.startups = startupSamples;
  const { table, targets } = report();
  const outFile = opt.out || path.join(opt.build, 'bench-results.json');
  fs.writeFileSync(outFile, JSON.stringify(results, null, 2));
  const mdFile = outFile.replace(/\.json$/, '.md');
  results.machine.loadavgEnd = os.loadavg();
  const header = `aiclient-server benchmarks, ${results.machine.date}, ${results.machine.commit || ''}: ${results.machine.nproc} cores (${cpu}), ` +
    `kernel ${results.machine.kernel}, ${results.machine.nginx}; rounds ${opt.rounds}, wrk -t1 -c${opt.wrkConnections} -d${opt.duration}s` +
    `${opt.quick ? ' (--quick)' : ''}; medians over rounds, peak RSS = max over rounds; load average at start ` +
    `${results.machine.loadavg.map((x) => x.toFixed(1)).join(' ')}, at end ${results.machine.loadavgEnd.map((x) => x.toFixed(1)).join(' ')}.`;
  fs.writeFileSync(mdFile, `${header}\n\n${table}\n\n${targets}\n`);
  console.log(`\n${header}\n\n${table}\n\n${targets}\n\n(results: ${outFile}, ${mdFile})`);
}

let exitCode = 0;
try {
  await main();
} catch (e) {
  console.error(`bench: ${e.stack || e}`);
  exitCode = 1;
} finally {
  for (const c of children) { try { c.kill('SIGTERM'); } catch { /* gone */ } }
  if (!opt.keep) fs.rmSync(tmp, { recursive: true, force: true });
  else log(`kept ${tmp}`);
}
process.exit(exitCode);
