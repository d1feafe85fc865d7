#!/usr/bin/env bash
# Convert everything in ../shared/data that the settings and benches read into
# $POSE_TF_RECORDS (default /work/records): the commands of docs/data.md in one place.
# Resumable: a rerun skips finished shards.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${SHARED_DATA:-../shared/data}
R=${POSE_TF_RECORDS:-/work/records}
V=flip,rot90,rot180,rot270
P=${POSE_TF:-.venv/bin/pose-tf}
c() { "$P" convert "$@" --no-progress; }
c coco --annotations $D/coco_mini/annotations/person_keypoints_val2017.json \
    --images $D/coco_mini/val2017 --out $R/coco_mini --prefix coco-val2017 --num-shards 2
c coco --annotations $D/coco_mini/annotations/person_keypoints_train2017.json \
    --images $D/coco_mini/train2017 --out $R/coco_mini --prefix coco-train2017 --num-shards 2 --variants $V
c coco --annotations $D/coco128/annotations/person_keypoints_train2017.json \
    --images $D/coco128/train2017 --out $R/coco128 --prefix coco128-train2017 --num-shards 2 --variants $V
c coco --annotations $D/coco_extra/person_keypoints.json --images $D/coco_extra/images \
    --out $R/coco_extra --prefix coco-extra --num-shards 1
F=$D/format_samples
c coco --annotations $F/coco/test_coco.json --images $F/coco --out $R/format_samples --prefix sample-coco --num-shards 1
c crowdpose --annotations $F/crowdpose/test_crowdpose.json --images $F/crowdpose --out $R/format_samples --prefix sample-crowdpose --num-shards 1
c aic --annotations $F/aic/test_aic.json --images $F/aic --out $R/format_samples --prefix sample-aic --num-shards 1
c ochuman --annotations $F/ochuman/test_ochuman.json --images $F/ochuman --out $R/format_samples --prefix sample-ochuman --num-shards 1
c mpii --annotations $F/mpii/test_mpii.json --images $F/mpii --out $R/format_samples --prefix sample-mpii --num-shards 1
c posetrack --annotations $F/posetrack18/annotations/val --images $F/posetrack18 \
    --out $R/format_samples --prefix sample-posetrack18 --num-shards 1
c posetrack --annotations $D/posetrack_bonn/tracks_060470979.json --images $D/posetrack_bonn/frames_060470979 \
    --out $R/posetrack_bonn --prefix posetrack-bonn-060470979 --num-shards 1
U=$D/unlabelled
c unlabelled --annotations $U/stanford40/person_boxes.json --images $U/stanford40/images \
    --out $R/unlabelled --prefix stanford40 --num-shards 4
c unlabelled --annotations $U/pennfudan/person_boxes.json --images $U/pennfudan/images \
    --out $R/unlabelled --prefix pennfudan --num-shards 1
c unlabelled --annotations $U/photos/images --images $U/photos/images --out $R/unlabelled --prefix photos --num-shards 1
c unlabelled --annotations $D/videos --images $D/videos --frame-step 10 --out $R/unlabelled --prefix videos --num-shards 1
# every second frame, for datasets/distill_per_image.yaml
c unlabelled --annotations $D/videos --images $D/videos --frame-step 2 --out $R/unlabelled --prefix videoframes --num-shards 2
