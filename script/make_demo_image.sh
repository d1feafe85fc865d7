#!/usr/bin/env bash
# Re-create pose_tf/resources/demo.jpg, the default input of `pose-tf demo`.
# Source: frame 720 of samples/data/vtest.avi in Debian's opencv-doc package (OpenCV
# samples; licence Apache-2.0 AND BSD-3-Clause according to that package's
# debian/copyright), cropped to the six pedestrians on the path.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download opencv-doc >/dev/null && dpkg-deb -x opencv-doc_*.deb x)
PY=${PYTHON:-.venv/bin/python}
"$PY" - "$work/x/usr/share/doc/opencv-doc/examples/data/vtest.avi" <<'PYEOF'
import sys, cv2
cap = cv2.VideoCapture(sys.argv[1])
cap.set(cv2.CAP_PROP_POS_FRAMES, 720)
ok, frame = cap.read()
assert ok, "could not read frame 720"
cv2.imwrite("pose_tf/resources/demo.jpg", frame[100:360, 20:500], [cv2.IMWRITE_JPEG_QUALITY, 92])
PYEOF
echo "wrote pose_tf/resources/demo.jpg"
