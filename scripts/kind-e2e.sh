#!/usr/bin/env bash
# The seed scenario on a local kind cluster, end to end: Istio and its Prometheus add-on,
# kanaria's operator from deploy/, the load tester, podinfo 3.1.0 and its Canary, then
# `set image` to 3.1.1 and a wait for the promotion.
#
# For people who have Docker, kind, kubectl and istioctl, and network access to pull images.
# It cannot run where kanaria's own tests run (no Docker daemon, no registry access there), so
# it has not been run as part of kanaria's test suite; the same scenario runs there against
# the Kubernetes API emulator (tests/integration/kubernetes/test_seed_release.py).
#
#   scripts/kind-e2e.sh            # create cluster "kanaria", run, keep it for inspection
#   KEEP=0 scripts/kind-e2e.sh     # delete the cluster at the end
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-kanaria}
IMAGE=${IMAGE:-kanaria:dev}
ISTIO_PROMETHEUS=${ISTIO_PROMETHEUS:-https://raw.githubusercontent.com/istio/istio/release-1.24/samples/addons/prometheus.yaml}
TIMEOUT=${TIMEOUT:-15m}

for tool in docker kind kubectl istioctl; do
  command -v "$tool" >/dev/null || { echo "kind-e2e: $tool is required" >&2; exit 2; }
done

step() { printf '\n== %s\n' "$*"; }

cleanup() {
  if [ "${KEEP:-1}" = 0 ]; then kind delete cluster --name "$CLUSTER"; fi
}
trap cleanup EXIT

step "cluster $CLUSTER"
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER"
kubectl config use-context "kind-$CLUSTER"

step "Istio (default profile) and its Prometheus add-on"
istioctl install -y --set profile=default
kubectl apply -f "$ISTIO_PROMETHEUS"
kubectl -n istio-system rollout status deployment/prometheus --timeout=5m

step "kanaria's image $IMAGE, loaded into kind"
docker build -f deploy/Dockerfile -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

step "kanaria operator (deploy/)"
workdir=$(mktemp -d)
cp -r deploy "$workdir/"
(cd "$workdir/deploy" && kubectl kustomize . \
  | sed "s#image: kanaria:0.1.0#image: $IMAGE#" > "$workdir/kanaria.yaml")
kubectl apply -f "$workdir/kanaria.yaml"
kubectl -n kanaria-system rollout status deployment/kanaria --timeout=5m

step "the seed: namespace, gateway, load tester, podinfo 3.1.0, its HPA and Canary"
kubectl apply -f examples/seed/namespace.yaml
kubectl label namespace test istio-injection=enabled --overwrite
kubectl apply -f examples/seed/public-gateway.yaml
kubectl apply -k deploy/loadtester -n test
kubectl apply -f examples/seed/podinfo.yaml
# the seed's HPA is autoscaling/v2beta2, which Kubernetes ≥ 1.26 no longer serves
sed 's#autoscaling/v2beta2#autoscaling/v2#' examples/seed/hpa.yaml | kubectl apply -f -
kubectl -n test rollout status deployment/flagger-loadtester --timeout=5m
kubectl apply -f examples/seed/podinfo-canary.yaml
kubectl -n test wait canary/podinfo --for=jsonpath='{.status.phase}'=Initialized --timeout=5m

step "traffic for the analysis (the seed's load-test webhook also sends some)"
kubectl -n test run traffic --image=ghcr.io/fluxcd/flagger-loadtester:0.38.0 --restart=Never \
  --command -- sh -c 'hey -z 30m -q 10 -c 2 http://podinfo.test:9898/' || true

step "release 3.1.1"
kubectl -n test set image deployment/podinfo podinfod=stefanprodan/podinfo:3.1.1
kubectl -n test wait canary/podinfo --for=jsonpath='{.status.phase}'=Progressing --timeout=5m
kubectl -n test wait canary/podinfo --for=condition=promoted --timeout="$TIMEOUT"

step "result"
kubectl -n test get canary/podinfo
kubectl -n test get deployment/podinfo-primary \
  -o jsonpath='{.spec.template.spec.containers[0].image}{"\n"}'
kubectl -n test describe canary/podinfo | sed -n '/^Events:/,$p'
phase=$(kubectl -n test get canary/podinfo -o jsonpath='{.status.phase}')
[ "$phase" = Succeeded ] || { echo "kind-e2e: canary ended $phase, not Succeeded" >&2; exit 1; }
echo "kind-e2e: the seed release succeeded"
