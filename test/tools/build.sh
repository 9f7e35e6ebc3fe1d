#!/usr/bin/env bash
# Builds the binaries of the test control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, kwok, source-controller,
# kustomize-controller) from the Go modules pinned under test/tools/, Gitea (the Git
# host with a pull request API that review mode is proven against) from the Go module
# proxy at $gitea_version, and copies the Flux CRDs, kwok's stages and Gitea's static
# files (templates, options; it is built without bindata) beside them.
#
# The result lives in ${KUBECTL_PROMOTE_CACHE:-$HOME/.cache/kubectl-promote}/plane/<key>/,
# where <key> hashes the tools modules' go.mod/go.sum (and the Go version), so a
# version bump builds a new directory and an unchanged one is reused as is. The
# directory is built under a temporary name and renamed when complete: a killed
# build never leaves a half cache behind.
#
# The last line printed is the directory, for KUBECTL_PROMOTE_PLANE=<dir>.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Gitea cannot be a tools module: its go.mod has replace directives, which an import
# (or go install) loses. It is built from its own module, as downloaded.
gitea_version=v1.27.3
cache="${KUBECTL_PROMOTE_CACHE:-${HOME:-/tmp}/.cache/kubectl-promote}/plane"

key="$(
	{
		go env GOVERSION GOOS GOARCH
		for m in etcd kube kwok flux; do
			cat "$here/$m/go.mod" "$here/$m/go.sum"
		done
		cat "$here/etcd/main.go"
		echo "gitea $gitea_version"
		# The layout this script produces is part of the key.
		echo layout-3
	} | sha256sum | cut -c1-16
)"
dest="$cache/$key"

if [[ -x "$dest/kube-apiserver" && -f "$dest/.complete" ]]; then
	echo "plane binaries: cached in $dest" >&2
	echo "$dest"
	exit 0
fi

mkdir -p "$cache"
tmp="$(mktemp -d "$cache/.build-$key-XXXXXX")"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

echo "plane binaries: building into $dest" >&2
echo "  the first build compiles Kubernetes, etcd, kwok, Flux and Gitea from source:" >&2
echo "  about 25 minutes on 2 cores; later builds reuse the Go build cache (seconds)" >&2

start=$SECONDS
# The four modules build at once: their link steps are single-threaded, so this
# keeps both cores busy (about 11 minutes cold on 2 cores, measured).
pids=()
names=()
step() { # step NAME MODULE PACKAGES...
	local name="$1" mod="$2"
	shift 2
	echo "  ► building $name ..." >&2
	(
		t=$SECONDS
		cd "$here/$mod"
		if go build -o "$tmp/" "$@" >"$tmp/.log-$mod" 2>&1; then
			echo "  ✔ $name ($((SECONDS - t)) s)" >&2
		else
			echo "  ✗ $name failed:" >&2
			cat "$tmp/.log-$mod" >&2
			exit 1
		fi
	) &
	pids+=($!)
	names+=("$name")
}

step etcd etcd .
step kwok kwok sigs.k8s.io/kwok/cmd/kwok
step "source-controller, kustomize-controller" flux \
	github.com/fluxcd/source-controller github.com/fluxcd/kustomize-controller
step "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl" kube \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl

# Gitea: its module's source copied to a writable folder and built there, pure Go
# (modernc sqlite), with its version set so that API clients accept it. Every step
# is checked (set -e does not apply inside a function called in a condition).
build_gitea() {
	local dir src="$tmp/.gitea-src"
	dir="$(cd "$tmp" && go mod download -json "code.gitea.io/gitea@$gitea_version" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')" || return 1
	[[ -n "$dir" && -f "$dir/main.go" ]] || { echo "go mod download code.gitea.io/gitea@$gitea_version gave no source ($dir)"; return 1; }
	cp -r "$dir" "$src" && chmod -R u+w "$src" || return 1
	(cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=${gitea_version#v}" -o "$tmp/gitea" .) || return 1
	mkdir -p "$tmp/gitea-static" && cp -r "$src/options" "$src/templates" "$src/public" "$tmp/gitea-static/" || return 1
	rm -rf "$src"
	"$tmp/gitea" --version || return 1
}
echo "  ► building gitea $gitea_version ..." >&2
(
	t=$SECONDS
	if build_gitea >"$tmp/.log-gitea" 2>&1; then
		echo "  ✔ gitea ($((SECONDS - t)) s)" >&2
	else
		echo "  ✗ gitea failed:" >&2
		cat "$tmp/.log-gitea" >&2
		exit 1
	fi
) &
pids+=($!)
names+=(gitea)
failed=0
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || failed=1
done
if [[ $failed != 0 ]]; then
	echo "plane binaries: build failed" >&2
	exit 1
fi
rm -f "$tmp"/.log-*

# Flux CRDs, from the controller modules' own config/crd/bases.
mkdir -p "$tmp/crds"
for m in github.com/fluxcd/source-controller github.com/fluxcd/kustomize-controller; do
	dir="$(cd "$here/flux" && go mod download -json "$m" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
	if [[ -z "$dir" || ! -d "$dir/config/crd/bases" ]]; then
		echo "no config/crd/bases in $m ($dir)" >&2
		exit 1
	fi
	cp "$dir"/config/crd/bases/*.yaml "$tmp/crds/"
done

# kwok's fast node and pod stages; the plane adds its own pod-ready variants.
kwokdir="$(cd "$here/kwok" && go mod download -json sigs.k8s.io/kwok | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
mkdir -p "$tmp/stages"
cp "$kwokdir"/kustomize/stage/node/fast/node-initialize.yaml \
	"$kwokdir"/kustomize/stage/node/heartbeat/node-heartbeat.yaml \
	"$kwokdir"/kustomize/stage/pod/fast/pod-delete.yaml \
	"$kwokdir"/kustomize/stage/pod/fast/pod-complete.yaml \
	"$kwokdir"/kustomize/stage/pod/fast/pod-ready.yaml \
	"$tmp/stages/"
chmod -R u+w "$tmp"

touch "$tmp/.complete"
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
	# Another build finished first; its result is as good as ours.
	[[ -f "$dest/.complete" ]] || { echo "cannot install $dest" >&2; exit 1; }
fi
trap - EXIT
rm -rf "$tmp"
echo "plane binaries: ready in $((SECONDS - start)) s" >&2
echo "$dest"
