#!/usr/bin/env bash
# Fetch the clean training photographs allowed by GUIDE.md section 4 and split them.
#
#   scripts/fetch_photos.sh DEST
#
# Downloads three Debian packages with `apt-get download` (no root needed unless the
# package lists are missing), unpacks them with `dpkg -x` into a temporary folder and
# copies only the allowed photographs, byte for byte, to DEST/photos/SOURCE-NAME.jpg.
# Then splits them deterministically into DEST/train/ and DEST/heldout/ (copies), and
# writes the split to DEST/SPLIT.txt. Held-out photos are at least 1920x1080 and are
# chosen by a hash of their stable name, so the split never depends on listing order.
# Also copies illustrations from the same packages to DEST/illustrations/ (GUIDE.md: "may add
# variety"), and makes DEST/train-plus/ = train/ + illustrations/ for the dereflection model,
# whose reflections are other pictures of its training folder.
# Other wallpaper packages are reserved for independent evaluation: never add them here.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 DEST" >&2
    exit 2
fi
dest=$1
n_heldout=${GLSGN_N_HELDOUT:-5}

plasma_photos=(BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite
               OneStandsOut Path summer_1am)
lomiri_photos=(Infinite-Sea_by_Aury88 Kleiber_by_Lukas_Baubkus)
plasma_illustrations=(Altai Autumn Canopee Cascade Cluster Elarun Flow FlyingKonqui Honeywave IceCold Kay
                      Kokkini MilkyWay Opal PastelHills Patak SafeLanding Shell Volna)
other_illustrations=(mate/abstract/Elephants.jpg Fossa_by_Jasper_Roks.jpg Painting-Colors_by__herobrine7gamer.jpg)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(
    cd "$work"
    pkgs=(plasma-workspace-wallpapers mate-backgrounds lomiri-wallpapers-20.04)
    if ! apt-get download "${pkgs[@]}" >/dev/null 2>&1; then
        echo "apt-get download failed; running apt-get update first" >&2
        apt-get update >/dev/null
        apt-get download "${pkgs[@]}" >/dev/null
    fi
    for deb in ./*.deb; do dpkg -x "$deb" root; done
)
src=$work/root/usr/share

mkdir -p "$dest/photos"
copy() {  # copy SRC NAME [FOLDER]: byte-for-byte, atomically, into DEST/FOLDER (default photos)
    local tmp folder=${3:-photos}
    tmp=$(mktemp "$dest/$folder/.tmp.XXXXXX")
    cp -L "$1" "$tmp"
    mv -f "$tmp" "$dest/$folder/$2"
}
for name in "${plasma_photos[@]}"; do
    # Every size variant in a plasma wallpaper is a link to the one full-size file.
    full=$(ls -S "$src/wallpapers/$name/contents/images/"*.jpg | head -n1)
    copy "$full" "plasma-$name.jpg"
done
for f in "$src"/backgrounds/mate/nature/*.jpg; do
    copy "$f" "mate-$(basename "$f")"
done
for name in "${lomiri_photos[@]}"; do
    copy "$src/backgrounds/$name.jpg" "lomiri-${name%%_by_*}.jpg"
done
mkdir -p "$dest/illustrations"
for name in "${plasma_illustrations[@]}"; do
    full=$(ls -S "$src/wallpapers/$name/contents/images/"* | head -n1)
    copy "$full" "plasma-$name.${full##*.}" illustrations
done
for path in "${other_illustrations[@]}"; do
    name=$(basename "$path")
    base=${name%.*}
    copy "$src/backgrounds/$path" "other-${base%%_by_*}.${name##*.}" illustrations
done

# Deterministic split: python3 from the standard library only (JPEG size from the SOF marker).
python3 - "$dest" "$n_heldout" <<'PY'
import hashlib, os, shutil, struct, sys
from pathlib import Path

dest, n_heldout = Path(sys.argv[1]), int(sys.argv[2])

def jpeg_size(path):
    data = path.read_bytes()
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    raise ValueError(f"{path}: no JPEG frame header")

photos = sorted((dest / "photos").glob("*.jpg"))
sizes = {p.name: jpeg_size(p) for p in photos}
big = [n for n, (w, h) in sizes.items() if max(w, h) >= 1920 and min(w, h) >= 1080]
rank = sorted(big, key=lambda n: hashlib.sha256(n.encode()).hexdigest())
heldout = set(rank[:n_heldout])
lines = ["# split name width height  (held-out photos are never trained on)"]
for split in ("train", "heldout"):
    folder = dest / split
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    for p in photos:
        if (p.name in heldout) == (split == "heldout"):
            shutil.copy2(p, folder / p.name)
            lines.append(f"{split} {p.name} {sizes[p.name][0]} {sizes[p.name][1]}")
tmp = dest / ".SPLIT.txt.tmp"
tmp.write_text("\n".join(lines) + "\n")
os.replace(tmp, dest / "SPLIT.txt")
plus = dest / "train-plus"
if plus.exists():
    shutil.rmtree(plus)
plus.mkdir()
for p in [*sorted((dest / "train").iterdir()), *sorted((dest / "illustrations").iterdir())]:
    shutil.copy2(p, plus / p.name)
print(f"{len(photos)} photos: {len(photos) - len(heldout)} train, {len(heldout)} held-out -> {dest}")
PY
