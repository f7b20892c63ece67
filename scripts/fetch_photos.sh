#!/usr/bin/env bash
# Fetch the clean training photographs allowed by GUIDE.md section 4 and split them.
#
#   scripts/fetch_photos.sh DEST
#
# Downloads Debian packages with `apt-get download` (no root needed unless the package lists
# are missing), unpacks the needed files with `dpkg-deb` into a temporary folder and copies only
# the chosen photographs, byte for byte, to DEST/photos/SOURCE-NAME.EXT (.jpg or .png). Every
# file was looked at by a person: photographs only (no renders, logos or screenshots), short side
# at least 512 px, and of a photo shipped at several sizes only the largest. Exact duplicates
# (same sha256) are kept once. Then splits them deterministically into DEST/train/ and
# DEST/heldout/ (copies) and writes the split to DEST/SPLIT.txt. Held-out photos are at least
# 1920x1080: the five held out since the first version (PINNED below) plus the next ones by a
# hash of their stable name, about 15% of the eligible photos and at least 8 in all
# (GLSGN_N_HELDOUT overrides the number), so the split never depends on listing order.
# Also copies illustrations to DEST/illustrations/ (GUIDE.md: "may add variety"), and makes
# DEST/train-plus/ = train/ + illustrations/ for the dereflection model, whose reflections are
# other pictures of its training folder. DEST/MANIFEST.tsv gives package, version, file,
# size, sha256, licence and split of every file; DEST/licences/ has each package's copyright.
#
# The three original packages must download; any other that fails is reported and skipped.
# lomiri-wallpapers-16.04 and ukui-wallpapers are reserved for independent evaluation: they are
# downloaded only to list their files' sha256 (RESERVED_SHA256 below is the same list, used when
# they cannot be downloaded) and any file with one of those hashes is refused. Never copy from them.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 DEST" >&2
    exit 2
fi
dest=$1
n_heldout=${GLSGN_N_HELDOUT:-}

core_pkgs=(plasma-workspace-wallpapers mate-backgrounds lomiri-wallpapers-20.04)
extra_pkgs=(lxqt-themes digikam-data libjxl-testdata python3-skimage opencv-doc)
reserved_pkgs=(lomiri-wallpapers-16.04 ukui-wallpapers)
RESERVED_SHA256=(
    15372488a192b2be2eafc67bd3ed31cbfca19abe3929e925607fcbc9cb4d4202
    177f1f8cf97dce50abd06c60f274547114b71519f3484e744beecaffa4fd6faa
    26fc5b5461f37132d913c9b03a48392e59a58f66e665cc5dfc2d997bda4190d4
    3590397864dfceb16f14fc7646c5465a691082fd33a5fc8702c31d954fd9ef0a
    3a9ce649f4cc97bec5f53eba56b73d4186efa86de0708bf1d85236eeeb875ca8
    414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a
    474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18
    4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05
    66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36
    6928e4ae7483a4df1fa5d3cdd89ef94fa236fe560f97c99f399f0163120e9669
    73fd26471a45955d256e9318fb24e7ec3a6a922fdc12ec3080c75d2a8da8ab3d
    7d7d048f935a7ca9de2808bc0523507a2fe36eda7e9b2fdfc1e3ebd7f4f2169d
    7ed93d313b3a699b0f97af153aa3af6dcfdedb8dd35b4fba090f16fb82087de0
    85a5453c2fed514c75973016f3d862aca62eb7ca087618822469274ac1092373
    89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b
    a01ef5d91bfe63fd77e91107ebb83fe203b39ad09cfb40488c56d21f50dffe0f
    a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f
    af5af17841009732def24b09bb1e669a1b09d2b4bdeee7812c371101c30d2bb3
    bd86b081f9975e2b83527f71e49b9271a8ab40885428395969d9f7d834d7f050
    bfb425545e77e9f0eb1b037b607fc9ed4a446f3b0f04aa2879be3556073c57ef
    c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad
    cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d
    d2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74
    d8c185c623cdacf36133a3030ac86d73ef2b54e9aad1c8fab1ccb4d91f297511
    e4247a65a08bdf23b42b318583ca9d2c796728466d30a2afdcf3a135c6a14a34
    e4717d5cb7dd3ed12cf0883567b7f2ca38dd83a073a12fc666e8c3b87c3abf79
    e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889
)

# What to take: "package|file in the package|our name|folder|licence". A file path ending in /
# is a folder of size variants of one picture: its largest file is taken. Licence "@metadata"
# reads the licence from the plasma wallpaper's metadata (.json or .desktop).
P=usr/share/wallpapers
M=usr/share/backgrounds/mate
LX=usr/share/lxqt/wallpapers
CV=usr/share/doc/opencv-doc/examples/data
SK=usr/lib/python3/dist-packages/skimage/data
lx_lic="CC-BY-SA-3.0 (wallpapers/License)"
cv_lic="Apache-2.0 AND BSD-3-Clause (debian/copyright)"
entries=()
for name in BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite \
            OneStandsOut Path summer_1am; do
    entries+=("plasma-workspace-wallpapers|$P/$name/contents/images/|plasma-$name|photos|@metadata")
done
for name in Aqua Blinds Dune FreshFlower Garden GreenMeadow LadyBird RainDrops Storm TwoWings Wood \
            YellowFlower; do
    entries+=("mate-backgrounds|$M/nature/$name.jpg|mate-$name|photos|GPL-2+")
done
entries+=(
    "lomiri-wallpapers-20.04|usr/share/backgrounds/Infinite-Sea_by_Aury88.jpg|lomiri-Infinite-Sea|photos|CC-BY-SA-3.0"
    "lomiri-wallpapers-20.04|usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg|lomiri-Kleiber|photos|CC-BY-SA-3.0"
)
for name in Butterfly-Kenneth-Wimer.jpg Valendas.png after-the-rain.jpg appleflower.png beam.png \
            butterfly.png cloud.png drop.png flowers.png fog.jpg this-is-not-windows.jpg; do
    entries+=("lxqt-themes|$LX/$name|lxqt-${name%.*}|photos|$lx_lic")
done
entries+=(
    "digikam-data|usr/share/digikam/about/images/body-background.jpg|digikam-body-background|photos|GPL-2+ (debian/copyright)"
    "libjxl-testdata|usr/share/libjxl-testdata/jxl/flower/flower.png|jxl-flower|photos|BSD-3-Clause (debian/copyright)"
    "python3-skimage|$SK/astronaut.png|skimage-astronaut|photos|public domain (NASA; skimage.data)"
    "python3-skimage|$SK/camera.png|skimage-camera|photos|CC0 (Lav Varshney; skimage.data)"
    "opencv-doc|$CV/aloeL.jpg|opencv-aloeL|photos|$cv_lic"
    "opencv-doc|$CV/leuvenA.jpg|opencv-leuvenA|photos|$cv_lic"
    "opencv-doc|$CV/graf1.png|opencv-graf1|photos|$cv_lic"
    "opencv-doc|$CV/baboon.jpg|opencv-baboon|photos|$cv_lic"
)
for name in Altai Autumn Canopee Cascade Cluster Elarun Flow FlyingKonqui Honeywave IceCold Kay \
            Kokkini MilkyWay Opal PastelHills Patak SafeLanding Shell Volna; do
    entries+=("plasma-workspace-wallpapers|$P/$name/contents/images/|plasma-$name|illustrations|@metadata")
done
entries+=(
    "mate-backgrounds|$M/abstract/Elephants.jpg|other-Elephants|illustrations|GPL-2+"
    "lomiri-wallpapers-20.04|usr/share/backgrounds/Fossa_by_Jasper_Roks.jpg|other-Fossa|illustrations|CC-BY-SA-3.0"
    "lomiri-wallpapers-20.04|usr/share/backgrounds/Painting-Colors_by__herobrine7gamer.jpg|other-Painting-Colors|illustrations|CC-BY-SA-3.0"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs" "$work/root" "$work/reserved"

download() {  # download PKG...: into $work/debs; non-zero if any failed
    (cd "$work/debs" && apt-get download "$@" >/dev/null 2>&1)
}
if ! download "${core_pkgs[@]}"; then
    echo "apt-get download failed; running apt-get update first" >&2
    apt-get update >/dev/null
    download "${core_pkgs[@]}"
fi
pkgs=("${core_pkgs[@]}")
for pkg in "${extra_pkgs[@]}"; do
    if download "$pkg"; then
        pkgs+=("$pkg")
    else
        echo "warning: apt-get download $pkg failed; skipping its photos" >&2
    fi
done
deb_of() { ls "$work/debs/$1"_*.deb; }

# The sha256 of every file in the reserved packages, to refuse any copy of them.
printf '%s\n' "${RESERVED_SHA256[@]}" >"$work/reserved.sha256"
for pkg in "${reserved_pkgs[@]}"; do
    if (cd "$work/reserved" && apt-get download "$pkg" >/dev/null 2>&1); then
        mkdir "$work/reserved/x"
        dpkg -x "$work/reserved/$pkg"_*.deb "$work/reserved/x"
        find "$work/reserved/x" -type f -exec sha256sum {} + | cut -d' ' -f1 >>"$work/reserved.sha256"
        rm -rf "$work/reserved/x" "$work/reserved/$pkg"_*.deb
    else
        echo "warning: cannot download reserved $pkg; using the built-in list of its hashes" >&2
    fi
done

# Unpack only the needed files (and the copyright files) of each package.
for pkg in "${pkgs[@]}"; do
    members=("./usr/share/doc/$pkg/copyright")
    for entry in "${entries[@]}"; do
        IFS='|' read -r p path _ <<<"$entry"
        if [[ $p == "$pkg" ]]; then
            members+=("./${path%%/contents/*}")  # a plasma wallpaper: its whole folder, metadata too
        fi
    done
    if [[ $pkg == lxqt-themes ]]; then members+=("./$LX/License"); fi
    mkdir -p "$work/root/$pkg"
    if ! dpkg-deb --fsys-tarfile "$(deb_of "$pkg")" | tar -x -C "$work/root/$pkg" "${members[@]}"; then
        if [[ " ${core_pkgs[*]} " == *" $pkg "* ]]; then
            echo "error: unpacking $pkg failed" >&2
            exit 1
        fi
        echo "warning: unpacking $pkg failed (files moved?); skipping its photos" >&2
        rm -rf "${work:?}/root/$pkg"
    fi
done

# Start from empty folders so that a photo dropped from the lists does not linger.
mkdir -p "$dest"
rm -rf "$dest/photos" "$dest/illustrations" "$dest/licences"
mkdir -p "$dest/photos" "$dest/illustrations" "$dest/licences"
copy() {  # copy SRC NAME FOLDER: byte-for-byte, atomically, into DEST/FOLDER
    local tmp
    tmp=$(mktemp "$dest/$3/.tmp.XXXXXX")
    cp -L "$1" "$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$dest/$3/$2"
}
records=$work/records.tsv
: >"$records"
for entry in "${entries[@]}"; do
    IFS='|' read -r pkg path name folder licence <<<"$entry"
    root=$work/root/$pkg
    [[ -d $root ]] || continue  # package skipped above
    if [[ $path == */ ]]; then
        # Every size variant in a plasma wallpaper is a link to the one full-size file.
        file=$(ls -S "$root/$path" | head -n1)
        path=$path$file
    fi
    if [[ $licence == @metadata ]]; then
        meta=$root/${path%%/contents/*}/metadata
        licence=$(sed -n -e 's/.*"License": *"\([^"]*\)".*/\1/p' -e 's/^X-KDE-PluginInfo-License=//p' \
                      "$meta".json "$meta".desktop 2>/dev/null | head -n1 || true)
        licence=${licence:-GPL-2+ (debian/copyright)}
    fi
    out=$name.${path##*.}
    copy "$root/$path" "$out" "$folder"
    version=$(dpkg-deb -f "$(deb_of "$pkg")" Version)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$pkg" "$version" "/$path" "$out" "$licence" "$folder" >>"$records"
done
for pkg in "${pkgs[@]}"; do
    if [[ -d $work/root/$pkg ]]; then
        cp "$work/root/$pkg/usr/share/doc/$pkg/copyright" "$dest/licences/$pkg.copyright"
    fi
done
if [[ -d $work/root/lxqt-themes ]]; then
    cp "$work/root/lxqt-themes/$LX/License" "$dest/licences/lxqt-themes.wallpapers-License"
fi

# Dedupe, size filter, deterministic split and manifest: python3 from the standard library only
# (JPEG size from the SOF marker, PNG size from the IHDR chunk).
python3 - "$dest" "$records" "$work/reserved.sha256" "$n_heldout" <<'PY'
import hashlib, os, shutil, struct, sys
from pathlib import Path

dest, records, reserved_file, n_arg = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
PINNED = {"mate-LadyBird.jpg", "mate-RainDrops.jpg", "plasma-FallenLeaf.jpg", "plasma-OneStandsOut.jpg",
          "plasma-summer_1am.jpg"}  # held out since the first version of this script: keep them held out
MIN_SHORT_SIDE = 512

def jpeg_size(data):
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    raise ValueError("no JPEG frame header")

def image_size(path):
    data = path.read_bytes()
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        return jpeg_size(data)
    raise ValueError(f"{path}: neither JPEG nor PNG")

reserved = set(reserved_file.read_text().split())
rows, seen = [], {}
for line in records.read_text().splitlines():
    pkg, version, file, name, licence, folder = line.split("\t")
    path = dest / folder / name
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    why = None
    if sha in reserved:
        why = "same bytes as a file in a reserved evaluation package"
    elif sha in seen:
        why = f"duplicate of {seen[sha]}"
    else:
        w, h = image_size(path)
        if folder == "photos" and min(w, h) < MIN_SHORT_SIDE:
            why = f"short side {min(w, h)} < {MIN_SHORT_SIDE}"
    if why:
        print(f"dropped {folder}/{name} ({pkg} {file}): {why}", file=sys.stderr)
        path.unlink()
        continue
    seen[sha] = name
    rows.append(dict(pkg=pkg, version=version, file=file, name=name, w=w, h=h, bytes=len(data), sha=sha,
                     licence=licence, folder=folder))

photos = sorted((r for r in rows if r["folder"] == "photos"), key=lambda r: r["name"])
illustrations = sorted((r for r in rows if r["folder"] == "illustrations"), key=lambda r: r["name"])
big = [r["name"] for r in photos if max(r["w"], r["h"]) >= 1920 and min(r["w"], r["h"]) >= 1080]
rank = sorted(big, key=lambda n: hashlib.sha256(n.encode()).hexdigest())
n_heldout = int(n_arg) if n_arg else max(8, round(0.15 * len(big)))
order = [n for n in rank if n in PINNED] + [n for n in rank if n not in PINNED]
heldout = set(order[:n_heldout])
lines = ["# split name width height  (held-out photos are never trained on)"]
for split in ("train", "heldout"):
    folder = dest / split
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    for r in photos:
        if (r["name"] in heldout) == (split == "heldout"):
            shutil.copy2(dest / "photos" / r["name"], folder / r["name"])
            lines.append(f"{split} {r['name']} {r['w']} {r['h']}")
            r["split"] = split
tmp = dest / ".SPLIT.txt.tmp"
tmp.write_text("\n".join(lines) + "\n")
os.replace(tmp, dest / "SPLIT.txt")
plus = dest / "train-plus"
if plus.exists():
    shutil.rmtree(plus)
plus.mkdir()
for p in [*sorted((dest / "train").iterdir()), *sorted((dest / "illustrations").iterdir())]:
    shutil.copy2(p, plus / p.name)
cols = ["package", "version", "file-in-package", "our-name", "width", "height", "bytes", "sha256", "licence",
        "split"]
out = ["\t".join(cols)]
for r in photos + illustrations:
    split = r.get("split", "illustration")
    out.append("\t".join(str(v) for v in (r["pkg"], r["version"], r["file"], r["name"], r["w"], r["h"],
                                          r["bytes"], r["sha"], r["licence"], split)))
tmp = dest / ".MANIFEST.tsv.tmp"
tmp.write_text("\n".join(out) + "\n")
os.replace(tmp, dest / "MANIFEST.tsv")
print(f"{len(photos)} photos: {len(photos) - len(heldout)} train, {len(heldout)} held-out; "
      f"{len(illustrations)} illustrations -> {dest}")
PY
