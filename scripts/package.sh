#!/bin/bash
# npm run package [-- OUTDIR]: the production bundle and the noarch RPM, into OUTDIR (default dist/rpm):
#   OUTDIR/flightctl-restore-agent-VERSION-RELEASE.noarch.rpm, and OUTDIR/build/ (bundle, sources, rpmbuild tree).
# Needs rpmbuild (Debian: apt-get install rpm, as scripts/install-deps.sh does; RHEL: dnf install rpm-build
# systemd-rpm-macros) and the npm packages installed (npm ci). Builds nothing outside OUTDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=flightctl-restore-agent
OUT=$(realpath -m "${1:-dist/rpm}")
WORK=$OUT/build

command -v rpmbuild >/dev/null || { echo "package: rpmbuild is missing: apt-get install rpm (Debian) or dnf install rpm-build (RHEL)" >&2; exit 1; }
[ -x node_modules/.bin/esbuild ] || { echo "package: esbuild is missing from node_modules: run npm ci first" >&2; exit 1; }
VERSION=$(node -p "require('./package.json').version")
SPEC_VERSION=$(sed -n 's/^Version:[[:space:]]*//p' rpm/$NAME.spec)
[ "$VERSION" = "$SPEC_VERSION" ] || { echo "package: rpm/$NAME.spec has Version $SPEC_VERSION but package.json has $VERSION: make them the same" >&2; exit 1; }

# esbuild strips the types without checking them: check first, as the build does
# (PACKAGE_TYPECHECK=0 skips it, for the packaging tests: npm test type-checks once already).
[ "${PACKAGE_TYPECHECK:-1}" = 0 ] || node_modules/.bin/tsc -p tsconfig.json --noEmit

rm -rf "$WORK"; mkdir -p "$WORK/SOURCES" "$OUT"
node scripts/bundle.mjs "$WORK/bundle"
SRC=$WORK/$NAME-$VERSION
mkdir -p "$SRC"
cp -a "$WORK/bundle/agent.mjs" "$WORK/bundle/restorectl.mjs" "$WORK/bundle/package.json" "$WORK/bundle/licenses" README.md "$SRC/"
tar -C "$WORK" --owner=0 --group=0 --numeric-owner --sort=name -czf "$WORK/SOURCES/$NAME-$VERSION.tar.gz" "$NAME-$VERSION"
cp "$WORK/bundle/bundled.spec.inc" "$WORK/SOURCES/$NAME-bundled.inc"
cp systemd/$NAME.service rpm/config.yaml "$WORK/SOURCES/"

# Debian's rpm has no %{_unitdir} and no %systemd_* macros (RHEL's come with systemd-rpm-macros).
LOAD=()
[ -n "$(rpm --eval '%{?_unitdir}')" ] || LOAD=(--load rpm/macros.systemd)
# --nodeps: Debian has no RPM database to find BuildRequires in.
rpmbuild -bb --quiet --nodeps "${LOAD[@]}" \
  --define "_topdir $WORK/rpmbuild" --define "_sourcedir $WORK/SOURCES" --define "_rpmdir $OUT" \
  --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
  rpm/$NAME.spec
ls "$OUT"/$NAME-"$VERSION"-*.noarch.rpm
