//  The subset of kustomize that deploy/k8s uses, so the overlays can be built
//  and checked where kubectl is not installed (Debian 12 has no kustomize
//  4+): resources (files and folders with a kustomization.yaml), namespace,
//  patches (strategic merge, by kind and name) and images. Anything else in
//  a kustomization.yaml is an error, not silently ignored. validate.mjs
//  compares the result with `kubectl kustomize` wherever kubectl is present.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

const KNOWN = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'patches', 'images']);
//  Kinds without a namespace (of those an overlay may hold).
const CLUSTER_KINDS = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding',
                               'CustomResourceDefinition', 'PersistentVolume', 'StorageClass']);
//  Strategic-merge keys of the lists our patches touch; other lists are replaced.
const MERGE_KEYS = { containers: 'name', initContainers: 'name', env: 'name', volumes: 'name',
                     volumeMounts: 'mountPath', ports: 'containerPort', imagePullSecrets: 'name' };

export function readYamlDocs(file) {
    const text = fs.readFileSync(file, 'utf8');
    const out = [];
    for (const doc of YAML.parseAllDocuments(text)) {
        if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
        const v = doc.toJS();
        if (v !== null && v !== undefined) out.push(v);
    }
    return out;
}

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

//  Strategic merge of patch into base (both plain JSON); returns a new value.
//  Lists with a merge key: the patch's items first (merged with the base's
//  item of the same key), then the base's other items, as kustomize does.
export function strategicMerge(base, patch, key = '') {
    if (isObj(base) && isObj(patch)) {
        const out = { ...base };
        for (const [k, v] of Object.entries(patch)) {
            if (v === null) delete out[k];
            else out[k] = k in base ? strategicMerge(base[k], v, k) : v;
        }
        return out;
    }
    if (Array.isArray(base) && Array.isArray(patch) && MERGE_KEYS[key]) {
        const mk = MERGE_KEYS[key];
        const used = new Set();
        const out = patch.map((p) => {
            const i = base.findIndex((b) => isObj(b) && b[mk] === p[mk]);
            if (i < 0) return p;
            used.add(i);
            return strategicMerge(base[i], p, '');
        });
        base.forEach((b, i) => { if (!used.has(i)) out.push(b); });
        return out;
    }
    return patch;
}

function podSpecs(obj) {
    const t = obj.spec?.template?.spec || obj.spec?.jobTemplate?.spec?.template?.spec;
    return t ? [t] : [];
}

function applyImages(obj, images) {
    for (const ps of podSpecs(obj))
        for (const c of [...(ps.containers || []), ...(ps.initContainers || [])]) {
            const m = /^([^:@]+)(.*)$/.exec(c.image || '');
            if (!m) continue;
            const img = images.find((i) => i.name === m[1]);
            if (!img) continue;
            const name = img.newName || m[1];
            c.image = img.digest ? `${name}@${img.digest}` : img.newTag ? `${name}:${img.newTag}` : name + m[2];
        }
}

//  Build the kustomization in dir; returns the list of objects.
export function build(dir) {
    const kfile = path.join(dir, 'kustomization.yaml');
    const [k] = readYamlDocs(kfile);
    for (const key of Object.keys(k))
        if (!KNOWN.has(key)) throw new Error(`${kfile}: "${key}" is not supported by tests/deploy/kustomize.mjs`);
    let objs = [];
    for (const r of k.resources || []) {
        const p = path.join(dir, r);
        if (fs.statSync(p).isDirectory()) objs.push(...build(p));
        else objs.push(...readYamlDocs(p));
    }
    for (const pt of k.patches || []) {
        if (!pt.path || pt.target || pt.patch)
            throw new Error(`${kfile}: only "patches: - path: FILE" is supported`);
        for (const patch of readYamlDocs(path.join(dir, pt.path))) {
            const i = objs.findIndex((o) => o.kind === patch.kind && o.metadata?.name === patch.metadata?.name);
            if (i < 0) throw new Error(`${pt.path}: no ${patch.kind}/${patch.metadata?.name} to patch`);
            objs[i] = strategicMerge(objs[i], patch);
        }
    }
    objs = objs.map((o) => JSON.parse(JSON.stringify(o)));
    if (k.namespace)
        for (const o of objs)
            if (!CLUSTER_KINDS.has(o.kind)) o.metadata = { ...(o.metadata || {}), namespace: k.namespace };
    if (k.images) for (const o of objs) applyImages(o, k.images);
    return objs;
}
