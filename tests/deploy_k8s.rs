//! `deploy/k8s`, checked offline with no cluster. What `kubectl apply -k`
//! would send must validate against the Kubernetes OpenAPI schemas
//! (tests/deploy_k8s.py with kubernetes-validate), each service's TOML in
//! its ConfigMap must pass the real binary's `--check-config` with the
//! files its pod mounts, and the manifests must keep their promises:
//! probes on the admin port the config opens, requests and limits, a
//! PodDisruptionBudget for every workload and an autoscaler for every
//! access-tier one, public ports on the access tier only, a data tier that
//! only the access tier reaches, and a directory that slapd loads and the
//! services can bind to.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

/// The namespace every name in the configs assumes.
const NAMESPACE: &str = "tiermail";

/// The ports the Internet reaches, and nothing else.
const PUBLIC_PORTS: &[u64] = &[25, 587, 465, 143, 993, 110, 995, 443];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn k8s_root() -> PathBuf {
    repo().join("deploy/k8s")
}

/// Runs tests/deploy_k8s.py on `root`: whether everything validated, the
/// objects it built, and its report.
fn build(root: &Path) -> (bool, Vec<Value>, String) {
    let out = Command::new("python3")
        .arg(repo().join("tests/deploy_k8s.py"))
        .arg(root)
        .output()
        .expect("python3");
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !report.contains("No module named"),
        "a Python module is missing (scripts/test installs kubernetes-validate from PyPI):\n{report}"
    );
    let docs = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out.status.success(), docs, report)
}

/// The objects of deploy/k8s, built and validated once for every test.
fn objects() -> &'static [Value] {
    static DOCS: OnceLock<Vec<Value>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let (ok, docs, report) = build(&k8s_root());
        assert!(ok, "deploy/k8s does not validate:\n{report}");
        eprintln!("{report}");
        docs
    })
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn name(d: &Value) -> &str {
    s(&d["metadata"]["name"])
}

fn of_kind<'a>(docs: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    docs.iter().filter(move |d| s(&d["kind"]) == kind)
}

fn find<'a>(docs: &'a [Value], kind: &str, n: &str) -> &'a Value {
    docs.iter()
        .find(|d| s(&d["kind"]) == kind && name(d) == n)
        .unwrap_or_else(|| panic!("no {kind} {n}"))
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), s(v).to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `selector` (matchLabels, or a Service's plain map) picks a pod
/// with `pod` labels. An empty selector picks every pod.
fn selects(selector: &BTreeMap<String, String>, pod: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| pod.get(k) == Some(v))
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// A Deployment or StatefulSet.
struct Workload<'a> {
    doc: &'a Value,
    name: &'a str,
    kind: &'a str,
    pod_labels: BTreeMap<String, String>,
    pod: &'a Value,
}

impl Workload<'_> {
    fn tier(&self) -> &str {
        self.pod_labels
            .get("tiermail/tier")
            .map_or("", String::as_str)
    }

    fn containers(&self) -> impl Iterator<Item = &Value> {
        list(&self.pod["containers"]).iter()
    }

    fn all_containers(&self) -> impl Iterator<Item = &Value> {
        list(&self.pod["initContainers"])
            .iter()
            .chain(self.containers())
    }

    /// What backs a volume: the pod's `volumes` entry, or "pvc" for a
    /// StatefulSet's volumeClaimTemplate.
    fn volume(&self, volume: &str) -> Volume<'_> {
        if let Some(v) = list(&self.pod["volumes"])
            .iter()
            .find(|v| s(&v["name"]) == volume)
        {
            return Volume::Pod(v);
        }
        let claims = list(&self.doc["spec"]["volumeClaimTemplates"]);
        if claims.iter().any(|c| name(c) == volume) {
            return Volume::Claim;
        }
        panic!("{}: volume {volume} is not defined", self.name)
    }
}

enum Volume<'a> {
    Pod(&'a Value),
    Claim,
}

fn workloads(docs: &[Value]) -> Vec<Workload<'_>> {
    docs.iter()
        .filter(|d| matches!(s(&d["kind"]), "Deployment" | "StatefulSet"))
        .map(|d| Workload {
            doc: d,
            name: name(d),
            kind: s(&d["kind"]),
            pod_labels: labels(&d["spec"]["template"]["metadata"]["labels"]),
            pod: &d["spec"]["template"]["spec"],
        })
        .collect()
}

/// The project binary a container runs, if it runs one.
fn our_binary(c: &Value) -> Option<&'static str> {
    let cmd = list(&c["command"]).first().map(s)?;
    common::SERVICES.iter().copied().find(|b| *b == cmd)
}

/// The value after `--config` in a container's arguments.
fn config_arg(c: &Value) -> &str {
    let args = list(&c["args"]);
    let i = args
        .iter()
        .position(|a| s(a) == "--config")
        .unwrap_or_else(|| panic!("{}: no --config argument", s(&c["name"])));
    s(&args[i + 1])
}

/// The pod name the test gives the first replica.
fn first_pod(w: &Workload<'_>) -> String {
    format!("{}-0", w.name)
}

fn decode(b64: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64 in a Secret")
}

/// Lays out under `root` what the container's volume mounts give it:
/// ConfigMap and Secret keys as files, empty directories for emptyDir
/// volumes and claims. Returns each mount path and whether a
/// PersistentVolumeClaim backs it.
fn lay_out_mounts(docs: &[Value], w: &Workload<'_>, c: &Value, root: &Path) -> Vec<(String, bool)> {
    let mut mounts = Vec::new();
    for m in list(&c["volumeMounts"]) {
        let path = s(&m["mountPath"]);
        let dir = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(&dir).expect("mount directory");
        let files: Vec<(String, Vec<u8>)> = match w.volume(s(&m["name"])) {
            Volume::Claim => {
                mounts.push((path.to_string(), true));
                continue;
            }
            Volume::Pod(v) if v.get("configMap").is_some() => {
                let cm = find(docs, "ConfigMap", s(&v["configMap"]["name"]));
                keyed(&v["configMap"], cm["data"].as_object(), |t| {
                    t.as_bytes().to_vec()
                })
            }
            Volume::Pod(v) if v.get("secret").is_some() => {
                let secret = find(docs, "Secret", s(&v["secret"]["secretName"]));
                keyed(&v["secret"], secret["data"].as_object(), decode)
            }
            Volume::Pod(v) if v.get("emptyDir").is_some() => Vec::new(),
            Volume::Pod(v) => panic!("{}: volume kind not modelled: {v}", w.name),
        };
        for (file, bytes) in files {
            std::fs::write(dir.join(file), bytes).expect("write a mounted file");
        }
        mounts.push((path.to_string(), false));
    }
    mounts
}

/// The files a ConfigMap or Secret volume shows: every key, or its
/// `items` (which must all exist).
fn keyed(
    source: &Value,
    data: Option<&serde_json::Map<String, Value>>,
    bytes: impl Fn(&str) -> Vec<u8>,
) -> Vec<(String, Vec<u8>)> {
    let data = data.expect("data");
    match source.get("items") {
        Some(items) => list(items)
            .iter()
            .map(|i| {
                let v = data
                    .get(s(&i["key"]))
                    .unwrap_or_else(|| panic!("no key {} in {source}", i["key"]));
                (s(&i["path"]).to_string(), bytes(s(v)))
            })
            .collect(),
        None => data.iter().map(|(k, v)| (k.clone(), bytes(s(v)))).collect(),
    }
}

/// `text` with every path under one of `mounts` moved under `root`: a
/// path counts where it starts after a quote, a space or a line start and
/// the mount path ends there or continues with `/`.
fn rebase(text: &str, mounts: &[(String, bool)], root: &Path) -> String {
    let root = root.display().to_string();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    'scan: while i < text.len() {
        let before = text[..i].chars().last();
        if matches!(before, None | Some('"' | ' ' | '\n')) {
            for (m, _) in mounts {
                let rest = &text[i..];
                if rest.starts_with(m.as_str())
                    && matches!(
                        rest[m.len()..].chars().next(),
                        None | Some('/' | '"' | '\n' | ' ')
                    )
                {
                    out.push_str(&root);
                    out.push_str(m);
                    i += m.len();
                    continue 'scan;
                }
            }
        }
        let ch = text[i..].chars().next().expect("a char");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// The TOML a container's service reads, as its pod would have it: from
/// its ConfigMap, or rendered from the ConfigMap by the `render-config`
/// init container (which must do exactly that).
fn service_config(docs: &[Value], w: &Workload<'_>, c: &Value) -> String {
    let path = config_arg(c);
    let file = path.rsplit('/').next().expect("file name");
    let config_map = |mount: &str| -> String {
        let m = list(&c["volumeMounts"])
            .iter()
            .chain(
                list(&w.pod["initContainers"])
                    .iter()
                    .flat_map(|i| list(&i["volumeMounts"])),
            )
            .find(|m| s(&m["mountPath"]) == mount)
            .unwrap_or_else(|| panic!("{}: nothing mounted at {mount}", w.name));
        let Volume::Pod(v) = w.volume(s(&m["name"])) else {
            panic!("{}: {mount} is not a ConfigMap", w.name)
        };
        let cm = find(docs, "ConfigMap", s(&v["configMap"]["name"]));
        s(&cm["data"][file]).to_string()
    };
    if path.starts_with("/etc/tiermail/config/") {
        let text = config_map("/etc/tiermail/config");
        assert!(
            !text.contains("@POD_NAME@"),
            "{}: {file} has @POD_NAME@ but nothing renders it",
            w.name
        );
        return text;
    }
    let template = format!("/etc/tiermail/config/{file}");
    let expected = format!("sed \"s/@POD_NAME@/${{POD_NAME}}/g\" {template} > {path}");
    let init = list(&w.pod["initContainers"])
        .iter()
        .find(|i| s(&i["name"]) == "render-config")
        .unwrap_or_else(|| panic!("{}: {path} is rendered by no init container", w.name));
    let cmd: Vec<&str> = list(&init["command"]).iter().map(s).collect();
    assert_eq!(cmd, ["/bin/sh", "-c", expected.as_str()], "{}", w.name);
    let env = list(&init["env"])
        .iter()
        .find(|e| s(&e["name"]) == "POD_NAME")
        .unwrap_or_else(|| panic!("{}: render-config has no POD_NAME", w.name));
    assert_eq!(
        s(&env["valueFrom"]["fieldRef"]["fieldPath"]),
        "metadata.name",
        "{}",
        w.name
    );
    assert_eq!(
        w.kind, "StatefulSet",
        "{}: per-pod names need stable pods",
        w.name
    );
    let text = config_map("/etc/tiermail/config");
    assert!(text.contains("@POD_NAME@"), "{}: nothing to render", w.name);
    text.replace("@POD_NAME@", &first_pod(w))
}

/// Every string in a TOML value with its dotted key.
fn strings(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
    match v {
        toml::Value::String(t) => out.push((prefix.to_string(), t.clone())),
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                strings(&key, v, out);
            }
        }
        toml::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                strings(&format!("{prefix}[{i}]"), v, out);
            }
        }
        _ => {}
    }
}

/// Keys whose directories hold what must outlive the pod.
fn is_state(key: &str) -> bool {
    matches!(
        key,
        "spool.dir" | "store.system_path" | "http.state_dir" | "jobctl.state_dir"
    ) || key.starts_with("store.partitions.")
}

fn check_config(binary: &str, path: &Path) -> (bool, String) {
    let out = Command::new(common::bin(binary))
        .arg("--config")
        .arg(path)
        .arg("--check-config")
        .output()
        .expect("run the binary");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_manifest_validates_against_the_kubernetes_schemas() {
    let docs = objects();
    let kinds: BTreeSet<&str> = docs.iter().map(|d| s(&d["kind"])).collect();
    for kind in [
        "Namespace",
        "ConfigMap",
        "Secret",
        "Service",
        "Deployment",
        "StatefulSet",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    ] {
        assert!(kinds.contains(kind), "no {kind} in deploy/k8s");
    }
    for d in docs {
        if s(&d["kind"]) != "Namespace" {
            assert_eq!(s(&d["metadata"]["namespace"]), NAMESPACE, "{d}");
        }
    }
}

/// The validation is not a formality: a typo in a manifest and a file no
/// kustomization uses both fail it.
#[test]
fn a_broken_manifest_fails_the_validation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("k8s");
    copy_tree(&k8s_root(), &copy);
    let mmp = copy.join("access/mmp.yaml");
    let text = std::fs::read_to_string(&mmp).expect("mmp.yaml");
    let broken = text.replacen("readinessProbe:", "readinesProbe:", 1);
    assert_ne!(broken, text);
    std::fs::write(&mmp, broken).expect("write");
    std::fs::write(copy.join("data/forgotten.yaml"), "kind: ConfigMap\n").expect("write");
    let (ok, _, report) = build(&copy);
    assert!(!ok, "a broken manifest passed:\n{report}");
    assert!(
        report.contains("Deployment/mmp is not valid") && report.contains("readinesProbe"),
        "{report}"
    );
    assert!(
        report.contains("forgotten.yaml is in no kustomization.yaml"),
        "{report}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

/// Each service's ConfigMap, laid out as its pod sees it (certificates and
/// secrets where the Secrets are mounted), passes the real binary's
/// `--check-config`; the same file with one unknown key does not. Every
/// path it names is on a volume the container mounts, and what must
/// outlive the pod is on a PersistentVolumeClaim.
#[test]
fn every_service_config_passes_its_binarys_check_config() {
    let docs = objects();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut checked = BTreeSet::new();
    for w in workloads(docs) {
        for c in w.containers() {
            let Some(binary) = our_binary(c) else {
                continue;
            };
            let root = dir.path().join(w.name);
            let mounts = lay_out_mounts(docs, &w, c, &root);
            let text = service_config(docs, &w, c);
            let table: toml::Value = toml::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {} is not TOML: {e}", w.name, config_arg(c)));
            let mut values = Vec::new();
            strings("", &table, &mut values);
            for (key, value) in values.iter().filter(|(_, v)| v.starts_with('/')) {
                let on = mounts
                    .iter()
                    .find(|(m, _)| value == m || value.starts_with(&format!("{m}/")));
                let Some((_, persistent)) = on else {
                    panic!(
                        "{}: {key} = {value:?} is on no volume the pod mounts",
                        w.name
                    )
                };
                assert!(
                    !is_state(key) || *persistent,
                    "{}: {key} = {value:?} would be lost with the pod: put it on a volume claim",
                    w.name
                );
            }
            let path = root.join(config_arg(c).trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, rebase(&text, &mounts, &root)).expect("write the config");
            let (ok, out) = check_config(binary, &path);
            assert!(ok, "{binary} rejects its ConfigMap ({}):\n{out}", w.name);
            assert!(out.contains("configuration OK"), "{out}");

            std::fs::write(
                &path,
                format!(
                    "unknown_key_from_the_test = 1\n{}",
                    rebase(&text, &mounts, &root)
                ),
            )
            .expect("write");
            let (ok, out) = check_config(binary, &path);
            assert!(!ok, "{binary} accepted an unknown key:\n{out}");
            assert!(out.contains("unknown_key_from_the_test"), "{out}");
            checked.insert(binary);
        }
    }
    let all: BTreeSet<&str> = common::SERVICES.iter().copied().collect();
    assert_eq!(checked, all, "every service binary runs in deploy/k8s");
}

/// Every listener the config opens on `0.0.0.0` and no other port.
fn listen_ports(table: &toml::Value) -> BTreeMap<String, u16> {
    let mut values = Vec::new();
    strings("", table, &mut values);
    values
        .into_iter()
        .filter(|(k, _)| k.ends_with("listen"))
        .map(|(k, v)| {
            let addr: SocketAddr = v.parse().unwrap_or_else(|_| panic!("{k} = {v:?}"));
            assert!(
                addr.ip().is_unspecified(),
                "{k} = {v}: other pods could not reach it"
            );
            (k, addr.port())
        })
        .collect()
}

/// Probes on `/readyz` and `/healthz` at the admin port the config opens,
/// container ports exactly the config's listeners, requests and limits on
/// every container, and the restricted Pod Security profile (non-root, no
/// privilege escalation, no capabilities, read-only root file system).
#[test]
fn containers_have_probes_resources_and_a_locked_down_security_context() {
    let docs = objects();
    for w in workloads(docs) {
        let pod_sc = &w.pod["securityContext"];
        assert_eq!(pod_sc["runAsNonRoot"], true, "{}", w.name);
        assert!(pod_sc["runAsUser"].as_u64().unwrap_or(0) > 0, "{}", w.name);
        assert_eq!(
            s(&pod_sc["seccompProfile"]["type"]),
            "RuntimeDefault",
            "{}",
            w.name
        );
        assert_eq!(w.pod["automountServiceAccountToken"], false, "{}", w.name);
        for c in w.all_containers() {
            let what = format!("{}/{}", w.name, s(&c["name"]));
            let sc = &c["securityContext"];
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
            assert!(
                list(&sc["capabilities"]["drop"])
                    .iter()
                    .any(|c| s(c) == "ALL"),
                "{what}"
            );
            for r in ["cpu", "memory"] {
                assert!(
                    c["resources"]["requests"][r].is_string(),
                    "{what}: requests.{r}"
                );
                assert!(
                    c["resources"]["limits"][r].is_string(),
                    "{what}: limits.{r}"
                );
            }
        }
        for c in w.containers() {
            let what = format!("{}/{}", w.name, s(&c["name"]));
            assert!(c["readinessProbe"].is_object(), "{what}: readinessProbe");
            assert!(c["livenessProbe"].is_object(), "{what}: livenessProbe");
            if our_binary(c).is_none() {
                continue;
            }
            let text = service_config(docs, &w, c);
            let table: toml::Value = toml::from_str(&text).expect("TOML");
            let ports = listen_ports(&table);
            let admin = ports["service.admin_listen"];
            let declared: BTreeMap<&str, u64> = list(&c["ports"])
                .iter()
                .map(|p| (s(&p["name"]), p["containerPort"].as_u64().unwrap_or(0)))
                .collect();
            assert_eq!(declared.get("admin"), Some(&u64::from(admin)), "{what}");
            let opened: BTreeSet<u64> = ports.values().map(|p| u64::from(*p)).collect();
            let listed: BTreeSet<u64> = declared.values().copied().collect();
            assert_eq!(
                opened, listed,
                "{what}: container ports vs the config's listeners"
            );
            for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
                let get = &c[probe]["httpGet"];
                assert_eq!(s(&get["path"]), path, "{what}: {probe}");
                let port = &get["port"];
                assert!(
                    s(port) == "admin" || port.as_u64() == Some(u64::from(admin)),
                    "{what}: {probe} is not on the admin port {admin}"
                );
            }
            if let Some(startup) = c.get("startupProbe") {
                assert_eq!(s(&startup["httpGet"]["path"]), "/healthz", "{what}");
            }
            let grace = w.pod["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or(30);
            let drain = table
                .get("service")
                .and_then(|t| t.get("drain_timeout"))
                .and_then(toml::Value::as_str)
                .unwrap_or("10s");
            let drain: u64 = drain
                .trim_end_matches('s')
                .parse()
                .expect("drain in seconds");
            assert!(
                grace > drain,
                "{what}: killed before its {drain}s drain ends"
            );
        }
    }
}

/// A PodDisruptionBudget selects every workload; every access-tier
/// workload has an autoscaler (relays never scale in by themselves: a
/// relay removed would strand the mail in its spool); the data tier's
/// state is on volume claims.
#[test]
fn workloads_have_disruption_budgets_autoscalers_and_volumes() {
    let docs = objects();
    for w in workloads(docs) {
        let pdbs: Vec<&Value> = of_kind(docs, "PodDisruptionBudget")
            .filter(|p| {
                selects(
                    &labels(&p["spec"]["selector"]["matchLabels"]),
                    &w.pod_labels,
                )
            })
            .collect();
        assert_eq!(
            pdbs.len(),
            1,
            "{}: PodDisruptionBudgets selecting it",
            w.name
        );
        let selector = labels(&w.doc["spec"]["selector"]["matchLabels"]);
        assert!(
            !selector.is_empty() && selects(&selector, &w.pod_labels),
            "{}",
            w.name
        );
        let hpa = of_kind(docs, "HorizontalPodAutoscaler").find(|h| {
            let t = &h["spec"]["scaleTargetRef"];
            s(&t["kind"]) == w.kind && s(&t["name"]) == w.name
        });
        match w.tier() {
            "access" => {
                let hpa = hpa.unwrap_or_else(|| panic!("{}: no HorizontalPodAutoscaler", w.name));
                assert!(hpa["spec"]["minReplicas"].as_u64() >= Some(2), "{}", w.name);
                if w.kind == "StatefulSet" {
                    assert_eq!(
                        s(&hpa["spec"]["behavior"]["scaleDown"]["selectPolicy"]),
                        "Disabled",
                        "{}: scaling in would strand spooled mail",
                        w.name
                    );
                }
            }
            "data" => {
                assert!(hpa.is_none(), "{}: the data tier is not autoscaled", w.name);
                assert_eq!(w.kind, "StatefulSet", "{}", w.name);
                assert!(
                    !list(&w.doc["spec"]["volumeClaimTemplates"]).is_empty(),
                    "{}: no volume claims",
                    w.name
                );
            }
            other => panic!("{}: tier {other:?}", w.name),
        }
        if w.kind == "StatefulSet" {
            let svc = find(docs, "Service", s(&w.doc["spec"]["serviceName"]));
            assert!(
                selects(&labels(&svc["spec"]["selector"]), &w.pod_labels),
                "{}",
                w.name
            );
        }
    }
}

/// LoadBalancer Services carry exactly the public ports, select access-tier
/// pods only and keep the client's address; every Service's target ports
/// are ports of the pods it selects.
#[test]
fn services_expose_the_public_ports_on_the_access_tier_only() {
    let docs = objects();
    let all = workloads(docs);
    let mut public = BTreeSet::new();
    for svc in of_kind(docs, "Service") {
        let selector = labels(&svc["spec"]["selector"]);
        let pods: Vec<&Workload<'_>> = all
            .iter()
            .filter(|w| selects(&selector, &w.pod_labels))
            .collect();
        assert!(!pods.is_empty(), "Service {} selects nothing", name(svc));
        for p in list(&svc["spec"]["ports"]) {
            let target = s(&p["targetPort"]);
            for w in &pods {
                let found = w
                    .containers()
                    .flat_map(|c| list(&c["ports"]))
                    .any(|cp| s(&cp["name"]) == target);
                assert!(
                    found,
                    "Service {}: {} has no port {target}",
                    name(svc),
                    w.name
                );
            }
        }
        match s(&svc["spec"]["type"]) {
            "LoadBalancer" => {
                for w in &pods {
                    assert_eq!(
                        w.tier(),
                        "access",
                        "Service {} reaches {}",
                        name(svc),
                        w.name
                    );
                }
                assert_eq!(
                    s(&svc["spec"]["externalTrafficPolicy"]),
                    "Local",
                    "{}",
                    name(svc)
                );
                for p in list(&svc["spec"]["ports"]) {
                    assert!(
                        public.insert(p["port"].as_u64().unwrap_or(0)),
                        "{}",
                        name(svc)
                    );
                }
            }
            "" | "ClusterIP" => {}
            other => panic!("Service {}: type {other}", name(svc)),
        }
    }
    let expected: BTreeSet<u64> = PUBLIC_PORTS.iter().copied().collect();
    assert_eq!(public, expected);
}

/// Nothing reaches a pod unless a policy lets it; the public ports are
/// open on access-tier pods only; the data tier (stores, jobctl, LDAP)
/// takes connections from the access tier (and LDAP from the stores) and
/// nowhere else, metrics aside; it talks to nothing outside the namespace
/// but DNS.
#[test]
fn network_policies_keep_the_data_tier_private() {
    let docs = objects();
    let all = workloads(docs);
    let policies: Vec<&Value> = of_kind(docs, "NetworkPolicy").collect();
    assert!(
        policies.iter().any(|p| p["spec"]["podSelector"]
            .as_object()
            .is_some_and(|o| o.is_empty())
            && list(&p["spec"]["policyTypes"])
                .iter()
                .any(|t| s(t) == "Ingress")
            && p["spec"].get("ingress").is_none()),
        "no default-deny ingress policy"
    );
    let tier_of = |peer: &Value| -> BTreeSet<&str> {
        let sel = labels(&peer["podSelector"]["matchLabels"]);
        all.iter()
            .filter(|w| selects(&sel, &w.pod_labels))
            .map(|w| w.tier())
            .collect()
    };
    let mut reached = BTreeSet::new();
    for w in &all {
        for p in &policies {
            let sel = labels(&p["spec"]["podSelector"]["matchLabels"]);
            if !selects(&sel, &w.pod_labels) {
                continue;
            }
            for rule in list(&p["spec"]["ingress"]) {
                let ports: Vec<&str> = list(&rule["ports"]).iter().map(|p| s(&p["port"])).collect();
                let from = list(&rule["from"]);
                if from.is_empty() {
                    assert_eq!(
                        w.tier(),
                        "access",
                        "{}: policy {} opens {ports:?} to everybody",
                        w.name,
                        name(p)
                    );
                    continue;
                }
                for peer in from {
                    assert!(peer.get("ipBlock").is_none(), "{}: {}", w.name, name(p));
                    if peer.get("namespaceSelector").is_some() {
                        assert_eq!(
                            ports,
                            ["admin"],
                            "{}: {} lets another namespace in",
                            w.name,
                            name(p)
                        );
                        continue;
                    }
                    let tiers = tier_of(peer);
                    assert!(!tiers.is_empty(), "{}: {} names no pod", w.name, name(p));
                    if w.tier() == "data" {
                        assert!(
                            tiers.iter().all(|t| *t == "access")
                                || (w.name == "openldap"
                                    && tiers.iter().all(|t| *t == "access" || *t == "data")),
                            "{}: {} lets {tiers:?} in",
                            w.name,
                            name(p)
                        );
                        if tiers.contains("access") {
                            reached.insert(w.name);
                        }
                    }
                }
            }
        }
        if w.tier() == "data" {
            let egress = policies.iter().any(|p| {
                selects(
                    &labels(&p["spec"]["podSelector"]["matchLabels"]),
                    &w.pod_labels,
                ) && list(&p["spec"]["policyTypes"])
                    .iter()
                    .any(|t| s(t) == "Egress")
            });
            assert!(egress, "{}: no egress policy", w.name);
        }
    }
    let data: BTreeSet<&str> = all
        .iter()
        .filter(|w| w.tier() == "data")
        .map(|w| w.name)
        .collect();
    assert_eq!(
        reached, data,
        "data-tier workloads the access tier can reach"
    );
}

/// The copies kustomize needs inside deploy/k8s are the shipped files:
/// routing as `mailctl up` fills deploy/mta/*.toml (and the router loads
/// it), the LDAP schema byte for byte, the seed the demo organisation with
/// mailHost naming the stores, each one a pod of the mailstore StatefulSet.
#[test]
fn copies_match_the_shipped_routing_schema_and_demo_directory() {
    let docs = objects();
    let inbound = find(docs, "ConfigMap", "mta-inbound-config");
    let outbound = find(docs, "ConfigMap", "mta-outbound-config");
    let want_in = mail_routing::fill(
        mail_routing::INBOUND_DEFAULT,
        &[
            ("DOMAIN", "example.test"),
            ("LOCAL_HOST", "mx.example.test"),
            ("LMTP_PORT", "2424"),
            ("POSTMASTER", "alice@example.test"),
        ],
    )
    .expect("fill");
    let want_out = mail_routing::fill(
        mail_routing::OUTBOUND_DEFAULT,
        &[
            ("DOMAIN", "example.test"),
            ("LOCAL_HOST", "smtp.example.test"),
            ("INBOUND_RELAY", "mta-inbound.tiermail.svc.cluster.local:25"),
        ],
    )
    .expect("fill");
    for (cm, key, want) in [
        (inbound, "mta-inbound-routing.toml", want_in),
        (outbound, "mta-outbound-routing.toml", want_out),
    ] {
        let text = s(&cm["data"][key]);
        assert!(
            text == want,
            "{key} is not deploy/mta's file filled for the cluster"
        );
        mail_routing::RoutingConfig::parse(Path::new(key), text)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    // The store's LMTP port is the one the routing file dials.
    let store = find(docs, "ConfigMap", "mailstore-config");
    let store_toml: toml::Value =
        toml::from_str(s(&store["data"]["mailstore.toml"])).expect("TOML");
    assert_eq!(
        store_toml["lmtp"]["listener"]["listen"].as_str(),
        Some("0.0.0.0:2424")
    );

    let ldap = find(docs, "ConfigMap", "openldap-config");
    let schema =
        std::fs::read_to_string(repo().join("deploy/ldap/tiermail.schema")).expect("schema");
    assert!(
        s(&ldap["data"]["tiermail.schema"]) == schema,
        "tiermail.schema differs"
    );

    let sts = find(docs, "StatefulSet", "mailstore");
    let replicas = sts["spec"]["replicas"].as_u64().expect("replicas");
    let service = s(&sts["spec"]["serviceName"]);
    let svc = find(docs, "Service", service);
    assert_eq!(
        s(&svc["spec"]["clusterIP"]),
        "None",
        "pods need their own names"
    );
    assert_eq!(svc["spec"]["publishNotReadyAddresses"], true);
    let pod_dns = |i: u64| format!("mailstore-{i}.{service}.{NAMESPACE}.svc.cluster.local");
    assert_eq!(
        store_toml["host"].as_str().unwrap_or_default(),
        format!("@POD_NAME@.{service}.{NAMESPACE}.svc.cluster.local"),
        "a store's host is its pod's DNS name"
    );
    let demo = std::fs::read_to_string(repo().join("deploy/ldap/demo.ldif")).expect("demo");
    let seed = s(&ldap["data"]["seed.ldif"]);
    let demo_lines: Vec<&str> = demo.lines().collect();
    let seed_lines: Vec<&str> = seed.lines().collect();
    assert_eq!(demo_lines.len(), seed_lines.len(), "seed.ldif vs demo.ldif");
    let mut stores_used = BTreeSet::new();
    for (d, k) in demo_lines.iter().zip(&seed_lines) {
        match (d.strip_prefix("mailHost: "), k.strip_prefix("mailHost: ")) {
            (Some(demo_host), Some(host)) => {
                let i = match demo_host {
                    "store1.example.test" => 0,
                    "store2.example.test" => 1,
                    other => panic!("demo.ldif has a new store {other}: map it in seed.ldif"),
                };
                assert!(i < replicas, "{host}: no such pod");
                assert_eq!(*k, format!("mailHost: {}", pod_dns(i)));
                stores_used.insert(i);
            }
            _ => assert_eq!(d, k, "seed.ldif differs from demo.ldif beyond mailHost"),
        }
    }
    assert_eq!(
        stores_used.len() as u64,
        replicas,
        "every store has demo users"
    );
}

struct Slapd(Child);

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The directory as its pod runs it: the init container's seed step loads
/// seed.ldif into an empty database (and leaves a full one alone), slapd
/// starts with slapd.conf and the rootpw file from the Secret, and the
/// services' account binds with the password file they mount and finds
/// alice on her store.
#[test]
fn the_directory_pod_seeds_serves_and_takes_the_services_bind() {
    let docs = objects();
    let w = workloads(docs)
        .into_iter()
        .find(|w| w.name == "openldap")
        .expect("openldap");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let slapd = w.containers().next().expect("slapd");
    let mounts = lay_out_mounts(docs, &w, slapd, root);
    let conf_path = root.join("etc/ldap/tiermail/slapd.conf");
    let conf = std::fs::read_to_string(&conf_path).expect("slapd.conf");
    std::fs::write(&conf_path, rebase(&conf, &mounts, root)).expect("write");
    let path = format!(
        "/usr/sbin:/sbin:{}",
        std::env::var("PATH").unwrap_or_default()
    );

    let seed = list(&w.pod["initContainers"])
        .iter()
        .find(|c| s(&c["name"]) == "seed")
        .expect("a seed init container");
    let cmd: Vec<&str> = list(&seed["command"]).iter().map(s).collect();
    assert_eq!(&cmd[..2], &["/bin/sh", "-c"]);
    for run in ["loads the seed", "leaves the database alone"] {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(rebase(cmd[2], &mounts, root))
            .env("PATH", &path)
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "the seed step fails when it {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let port = mail_testkit::free_port().expect("port");
    let url = format!("ldap://127.0.0.1:{port}/");
    let args: Vec<String> = list(&slapd["args"])
        .iter()
        .map(|a| {
            if s(a).starts_with("ldap://") {
                url.clone()
            } else {
                rebase(s(a), &mounts, root)
            }
        })
        .collect();
    let log = std::fs::File::create(root.join("slapd.log")).expect("log");
    let child = Command::new(s(&list(&slapd["command"])[0]))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start slapd");
    let _slapd = Slapd(child);
    mail_testkit::wait_listening(
        SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| {
        panic!(
            "slapd: {e}\n{}",
            std::fs::read_to_string(root.join("slapd.log")).unwrap_or_default()
        )
    });

    let store = find(docs, "ConfigMap", "mailstore-config");
    let store_toml: toml::Value =
        toml::from_str(s(&store["data"]["mailstore.toml"])).expect("TOML");
    let directory = &store_toml["directory"];
    let secret = find(docs, "Secret", "tiermail-ldap");
    let password = String::from_utf8(decode(s(&secret["data"]["bind.password"]))).expect("utf-8");
    let out = Command::new("ldapsearch")
        .args(["-x", "-LLL", "-H", &url, "-D"])
        .arg(directory["bind_dn"].as_str().expect("bind_dn"))
        .arg("-w")
        .arg(password.trim_end())
        .arg("-b")
        .arg(directory["base_dn"].as_str().expect("base_dn"))
        .args(["(uid=alice)", "mailHost"])
        .output()
        .expect("ldapsearch");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("mailHost: mailstore-0.mailstore.tiermail.svc.cluster.local"),
        "{text}"
    );
}
