#!/usr/bin/env bash
# The GUI end to end, in a real window under Xvfb (1280x800), on a real 3-rank MPI job:
#   1. `mpirun -np 3 imgproc gui --op gray,gaussian,canny` opens the window;
#   2. Ctrl+O and the GTK file dialog open the bundled sample; Ctrl+Enter processes it on all ranks;
#      the split line dragged on the image to its right edge shows only the original (the same
#      pixels as before processing), to its left edge only the result (no colour left);
#      Ctrl+S and the save dialog write the result; it must equal the CLI's output byte for byte;
#   3. Ctrl+Q closes the window and mpirun must exit 0 (every rank shut down);
#   4. a batch with a broken file, opened from the command line: processed, its grid shows the
#      results (the colour thumbnails turn gray), the bar is in the failure colour, and Save (a
#      dialog whose button says Save) writes the outputs, equal to the CLI's;
#   4b. an 8K image: Ctrl+Z restores the chain the command line replaced (bilateral:d=25), Process,
#      then Esc mid-job: the window shows the cancel within 1 s and keeps the previous result, the
#      bar reads cancelled (no rank failed);
#   4c. a video opened from the command line: its frame before and after the chain in the split
#      view, the slider moved with the arrow keys, Process video… into an .mkv through the save
#      dialog; the file has every frame, gray, equal to the CLI's `imgproc video`, the bar's pace
#      the message's; then a longer video cancelled with Esc mid-job: the cancel shows within
#      seconds and the bar reads cancelled, no output file is left,
#      and mpirun exits 0 on Ctrl+Q; a truncated video is refused with its name;
#   4d. what the window shows is the truth (issue 24): a batch cancelled mid-job reads cancelled,
#      not failed; resize's interpolation by name in the CLI line; Process at the same place with a
#      message and after a job; the bar never at 100 % before the end, rank 0's resize counted; a
#      resized result over the whole original's area in the split view and side by side (pixels
#      against the CLI's result); a preset typed into the menu, stored, applied after a restart;
#      side by side (the saved mode) fitted when the result arrives; a 16-bit PNG and an RGBA PNG
#      shown as they are, the depth kept and the alpha dropped as said, equal to the reference;
#      at 800 px wide the view refits and no zoom control is cut off;
#   4e. Classify mode: a batch of coloured pictures opened with --model, Classify clicked: it runs
#      on 3 ranks, every image is labelled, and the labels are drawn on the tiles;
#   5. Ctrl+Q in the middle of a slow job cancels it: mpirun exits 0 within seconds, and the next
#      start neither reopens nor re-runs it;
#   6. the window destroyed under the app mid-job (xdotool windowclose): mpirun exits 0, no rank
#      is left, and the next start resumes the interrupted job;
#   7. the X server gone mid-job (an RDP session that ends), after a GTK dialog was used:
#      mpirun exits 0 and no rank is left;
#   8. without a display, `imgproc` says how to use the GUI or the CLI and exits 3.
# Screenshots of the main states go to docs/screenshots/. Needs: Xvfb, xdotool, ImageMagick
# (scripts/install-deps.sh installs them). Every wait has a deadline.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
bin=$root/target/release/imgproc
shots=$root/docs/screenshots
mkdir -p "$shots"
work=$(mktemp -d)
display=:$((90 + RANDOM % 9))
xvfb_pid=
xvfb2_pid=
job_pid=

cleanup() {
  if [ -n "$job_pid" ]; then kill "$job_pid" 2>/dev/null || true; fi
  pkill -f "$bin gui" 2>/dev/null || true
  if [ -n "$xvfb_pid" ]; then kill "$xvfb_pid" 2>/dev/null || true; fi
  if [ -n "$xvfb2_pid" ]; then kill "$xvfb2_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

test_name=gui_e2e
# shellcheck source=tests/lib.sh
source tests/lib.sh

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "timed out waiting for $what"
    sleep 0.2
  done
}

shot() {
  sleep 0.5 # let the frame that shows the new state reach the screen
  import -window root -crop 1280x800+0+0 -quality 85 "$shots/$1.jpg"
}

# grab NAME: the screen, losslessly, for pixel checks.
grab() {
  sleep 0.5
  import -window root "$work/$1.png"
}

# image_rect LOG: "X Y W H" of the image on screen, from the window's last fit.
image_rect() {
  grep "view: the image lies at" "$1" | tail -1 | sed -E 's/.* at ([0-9]+),([0-9]+) size ([0-9]+)x([0-9]+) px/\1 \2 \3 \4/'
}

# drag_split FROM_X TO_X Y: drags the split line with the primary button.
drag_split() {
  xdotool mousemove "$1" "$3" mousedown 1
  local x
  for x in $(seq "$1" $(((${2} - ${1}) / 10)) "$2") "$2"; do
    xdotool mousemove "$x" "$3"
    sleep 0.03
  done
  xdotool mouseup 1
}

# count_colour PNG GEOMETRY R,G,B: how many pixels of exactly that colour the region holds.
count_colour() {
  convert "$1" -crop "$2" +repage -fill black +opaque "rgb($3)" -fill white -opaque "rgb($3)" \
    -format "%[fx:round(mean*w*h)]" info:
}

# colourful PNG GEOMETRY: how many pixels of the region have a saturation above 20 %.
colourful() {
  convert "$1" -crop "$2" +repage -colorspace HSL -channel G -separate +channel -threshold 20% \
    -format "%[fx:round(mean*w*h)]" info:
}

# type_into_dialog TITLE PATH: focus the GTK dialog titled TITLE, type PATH into its location.
type_into_dialog() {
  wait_for 20 "the '$1' dialog" xdotool search --onlyvisible --name "^$1\$"
  focus_window "the '$1' dialog" "^$1\$"
  sleep 0.3
  xdotool key ctrl+l
  sleep 0.2
  xdotool key ctrl+a
  xdotool type --delay 5 "$2"
  sleep 0.3
  xdotool key Return
}

# focus_window WHAT NAME_REGEX: give the input focus to the visible window named NAME_REGEX.
# A window just mapped can still refuse the focus (X error BadMatch on SetInputFocus, seen in
# CI on the main window right after a start, and on a GTK dialog just opened): look the window
# up again and retry for up to 10 s; the first focus that takes is enough.
focus_window() {
  local win
  for _ in $(seq 40); do
    win=$(xdotool search --onlyvisible --name "$2" 2>/dev/null | head -1)
    if [ -n "$win" ] && xdotool windowfocus --sync "$win" 2>/dev/null; then
      sleep 0.2
      return 0
    fi
    sleep 0.25
  done
  echo "gui_e2e: FAIL: $1 never took the focus; windows named imgproc or like it:" >&2
  xdotool search --name "^imgproc|$2" getwindowname %@ >&2 || true
  return 1
}

focus_main() {
  wait_for 30 "the main window to be shown" xdotool search --onlyvisible --name "^imgproc .* rank"
  focus_window "the main window" "^imgproc .* rank"
}

# place LOG NAME: "X Y W H" of the widget NAME, where the window last logged it.
place() {
  grep -F "imgproc gui: place: $2 at " "$1" | tail -1 | sed -E 's/.* at (-?[0-9]+),(-?[0-9]+) size ([0-9]+)x([0-9]+) px/\1 \2 \3 \4/'
}

# click_place LOG NAME: clicks the middle of the widget NAME.
click_place() {
  local x y w h
  read -r x y w h <<<"$(place "$1" "$2")"
  [ -n "$h" ] || fail "the window never showed '$2'"
  xdotool mousemove $((x + w / 2)) $((y + h / 2)) click 1
}

# result_rect LOG: "X Y W H" of the result on screen, from the window's last fit.
result_rect() {
  grep "view: the result lies at" "$1" | tail -1 | sed -E 's/.* at ([0-9]+),([0-9]+) size ([0-9]+)x([0-9]+) px.*/\1 \2 \3 \4/'
}

# rmse SCREEN GEOMETRY IMAGE: how far the region of SCREEN is from IMAGE scaled to the region's
# size (0 the same, 1 the opposite), as ImageMagick's normalised root mean square error.
rmse() {
  local size=${2%%+*}
  convert "$1" -crop "$2" +repage "$work/rmse-a.png"
  convert "$3" -resize "$size!" "$work/rmse-b.png"
  compare -metric RMSE "$work/rmse-a.png" "$work/rmse-b.png" null: 2>&1 | sed -E 's/.*\((.*)\)/\1/' || true
}

# below LIMIT VALUE: whether VALUE < LIMIT (decimals).
below() { python3 -c "import sys; sys.exit(not float(sys.argv[2]) < float(sys.argv[1]))" "$1" "$2"; }

Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb_pid=$!
export DISPLAY=$display
wait_for 10 "Xvfb" xdpyinfo
export XDG_DATA_HOME=$work/state # fresh settings: nothing persisted from other runs
export GSETTINGS_BACKEND=memory # no dbus here: keep GTK from trying dconf
mkdir -p "$work/out"

# --- 1-3: one image through the dialogs ---------------------------------------
op=gray,gaussian,canny
mpirun --oversubscribe -np 3 "$bin" gui --op "$op" >"$work/gui.log" 2>&1 &
job_pid=$!
wait_for 60 "the window" xdotool search --name "^imgproc .* 3 rank"
sleep 1
shot empty

focus_main
xdotool key ctrl+o
type_into_dialog "Open image" "$root/samples/astronaut.jpg"
wait_for 30 "the image to open" grep -q "opened .*astronaut.jpg" "$work/gui.log"
focus_main
shot opened
grab before
read -r ix iy iw ih <<<"$(image_rect "$work/gui.log")"
[ -n "$ih" ] || fail "the window did not say where the image lies"
# The image less a margin for the split line and its grip.
inner="$((iw - 24))x$((ih - 24))+$((ix + 12))+$((iy + 12))"

xdotool key ctrl+Return
wait_for 60 "the result" grep -q "image processed on 3 rank" "$work/gui.log"
focus_main
shot result

# The split line dragged to the image's right edge: only the original, pixel for pixel.
mid_y=$((iy + ih / 2))
drag_split $((ix + iw / 2)) $((ix + iw + 30)) "$mid_y"
wait_for 5 "the line at the right edge" grep -q "split line at 100 %" "$work/gui.log"
grab right
convert "$work/before.png" -crop "$inner" +repage "$work/before-inner.png"
convert "$work/right.png" -crop "$inner" +repage "$work/right-inner.png"
compare -metric AE "$work/before-inner.png" "$work/right-inner.png" null: 2>"$work/ae.txt" ||
  fail "the line at the right edge does not show only the original: $(cat "$work/ae.txt") pixels differ"
# To the left edge: only the result (gray edges; the original is a colour photo).
drag_split $((ix + iw / 2)) $((ix - 30)) "$mid_y"
wait_for 5 "the line at the left edge" grep -q "split line at 0 %" "$work/gui.log"
grab left
[ "$(colourful "$work/before.png" "$inner")" -gt 10000 ] || fail "the sample should be a colour photo"
n=$(colourful "$work/left.png" "$inner")
[ "$n" -eq 0 ] || fail "the line at the left edge still shows $n pixels of the colour original"
echo "gui_e2e: split line dragged to both image edges: only the original, then only the result" >&2
drag_split $((ix + 5)) $((ix + iw / 2)) "$mid_y"

xdotool key ctrl+s
type_into_dialog "Save result" "$work/out/from-gui.png"
wait_for 30 "the save" grep -q "Saved $work/out/from-gui.png" "$work/gui.log"

"$bin" run --reference --op "$op" samples/astronaut.jpg -o "$work/out/from-cli.png" 2>/dev/null
cmp "$work/out/from-gui.png" "$work/out/from-cli.png" || fail "the GUI's result differs from the CLI's"
echo "gui_e2e: saved result equals the CLI output" >&2

focus_main
xdotool key ctrl+q
wait_for 30 "mpirun to exit" sh -c "! kill -0 $job_pid"
wait "$job_pid" || fail "mpirun exited $? after the window closed"
job_pid=
echo "gui_e2e: window closed, mpirun exited 0" >&2

# --- 4: a batch from the command line; the settings were kept -----------------
mkdir -p "$work/batch"
for i in 1 2 3 4 5 6; do
  "$root/target/release/examples/synth" 640 420 3 "$i" "$work/batch/photo-$i.jpg"
done
cp "$work/out/from-cli.png" "$work/batch/zz-broken.png"
truncate -s 2000 "$work/batch/zz-broken.png"
mpirun --oversubscribe -np 3 "$bin" gui "$work/batch" >"$work/batch.log" 2>&1 &
job_pid=$!
wait_for 60 "the batch window" xdotool search --name "^imgproc .* 3 rank"
sleep 2
grid="900x560+350+90" # the thumbnails, right of the controls
grab batch-before
focus_main
xdotool key ctrl+Return
wait_for 60 "the batch" grep -q "Batch: 6 done, 1 failed" "$work/batch.log"
grep -q "error: .*zz-broken.png" "$work/batch.log" || fail "the broken file was not reported by name"
grep -q "opened" "$work/batch.log" && fail "a batch should not open as one image"
grep -q "earlier" "$work/batch.log" && fail "nothing was done by an earlier run: it should not be mentioned"
wait_for 30 "the result thumbnails" grep -q "the batch grid shows 6 result thumbnail" "$work/batch.log"
sleep 1
shot batch
grab batch-after
before=$(colourful "$work/batch-before.png" "$grid")
after=$(colourful "$work/batch-after.png" "$grid")
[ "$before" -gt 50000 ] || fail "the originals' thumbnails should be in colour ($before colour pixels)"
[ "$after" -lt $((before / 20)) ] || fail "the grid still shows the originals: $after colour pixels, $before before"
red=$(count_colour "$work/batch-after.png" "340x700+0+0" "255,0,0")
[ "$red" -gt 2500 ] || fail "the progress bar is not in the failure colour ($red red pixels)"
echo "gui_e2e: batch: result thumbnails shown, failure-coloured bar" >&2
focus_main
xdotool key ctrl+s
type_into_dialog "Save the batch results as a folder" "$work/out/batch-saved"
wait_for 30 "the batch save" grep -q "Saved 6 image(s) to $work/out/batch-saved" "$work/batch.log"
"$bin" run --reference --op "$op" "$work/batch/photo-3.jpg" -o "$work/out/photo-3-cli.jpg" 2>/dev/null
cmp "$work/out/batch-saved/photo-3.jpg" "$work/out/photo-3-cli.jpg" || fail "a saved batch output differs from the CLI's"
focus_main
xdotool key ctrl+q
wait_for 30 "mpirun to exit" sh -c "! kill -0 $job_pid"
wait "$job_pid" || fail "mpirun exited $? after the batch window closed"
job_pid=
# The chain chosen in the first window was persisted and used here.
state=$XDG_DATA_HOME/imgproc/app.ron
grep -qF 'chain:[(op:\"gray\")' "$state" || fail "the op chain was not persisted: $(head -c 300 "$state")"
grep -qF "inputs:[\\\"$work/batch\\\"]" "$state" || fail "the last inputs were not persisted: $(head -c 300 "$state")"

# Helpers for the jobs below: one window on 3 ranks, its log, and how it must end.
# start_gui LOG ARGS...: starts the job in the background and waits for its window.
start_gui() {
  local log=$1
  shift
  mpirun --oversubscribe -np 3 "$bin" gui "$@" >"$log" 2>&1 &
  job_pid=$!
  wait_for 60 "the window" xdotool search --name "^imgproc .* 3 rank"
  sleep 1
}

# expect_clean_exit SECONDS WHAT: mpirun must exit 0 within SECONDS, with no rank left.
expect_clean_exit() {
  wait_for "$1" "mpirun to exit after $2" sh -c "! kill -0 $job_pid"
  wait "$job_pid" || fail "mpirun exited $? after $2"
  job_pid=
  if pgrep -f "$bin gui" >/dev/null; then fail "a rank is left after $2: $(pgrep -af "$bin gui")"; fi
  echo "gui_e2e: $2: mpirun exited 0, no rank left" >&2
}

# process_slowly LOG: Ctrl+Enter, and waits until the job runs.
process_slowly() {
  focus_main
  xdotool key ctrl+Return
  wait_for 30 "the job to start" grep -q "processing the image on 3 rank" "$1"
  sleep 1
}

interrupted() { grep -qF 'interrupted:true' "$state"; }

# A job that takes several seconds: bilateral d=31 on 3000x2000.
"$root/target/release/examples/synth" 3000 2000 3 9 "$work/big.png"
slow=bilateral:d=31

# --- 4b: undo, then cancel an 8K bilateral:d=25 mid-job ------------------------
"$root/target/release/examples/synth" 7680 4320 3 11 "$work/big8k.png"
# The saved chain is bilateral:d=25; the next start replaces it with --op invert.
start_gui "$work/chain.log" --op bilateral:d=25
focus_main
xdotool key ctrl+q
expect_clean_exit 15 "Ctrl+Q after choosing bilateral:d=25"
start_gui "$work/cancel.log" --op invert "$work/big8k.png"
wait_for 60 "the 8K image to open" grep -q "opened .*big8k.png" "$work/cancel.log"
focus_main
xdotool key ctrl+Return
wait_for 120 "the inverted 8K image" grep -q "image processed on 3 rank" "$work/cancel.log"
focus_main
xdotool key ctrl+z
wait_for 5 "the undo" grep -q "undo: the chain is bilateral:d=25:" "$work/cancel.log"
echo "gui_e2e: Ctrl+Z restored the previous chain" >&2
xdotool key ctrl+Return
wait_for 30 "the 8K bilateral to start" sh -c "[ \$(grep -c 'processing the image' '$work/cancel.log') -ge 2 ]"
sleep 3 # the ranks report their rows: the bar shows a percentage and the time left
shot running
focus_main
started=$(date +%s%N)
xdotool key Escape
deadline=$((SECONDS + 10))
until grep -q "cancelled after" "$work/cancel.log"; do
  [ $SECONDS -lt $deadline ] || fail "Esc did not cancel the 8K job"
  sleep 0.01
done
took_ms=$((($(date +%s%N) - started) / 1000000))
echo "gui_e2e: Esc to the cancelled state: $took_ms ms ($(grep -o "cancelled after .*" "$work/cancel.log"))" >&2
[ "$took_ms" -lt 1000 ] || fail "cancelling the 8K bilateral:d=25 took $took_ms ms"
grep -q "the previous result is still shown" "$work/cancel.log" || fail "the previous result was not kept"
wait_for 5 "the cancelled bar" grep -q "bar: cancelled · " "$work/cancel.log"
grep "imgproc gui: ranks:" "$work/cancel.log" | tail -1 | grep -q "failed" &&
  fail "a cancel shows as a failure: $(grep 'imgproc gui: ranks:' "$work/cancel.log" | tail -1)"
grep -q "bar: 100 %" "$work/cancel.log" && fail "the bar read 100 % before the job ended"
echo "gui_e2e: image: $(grep 'bar at the end' "$work/cancel.log" | tail -1 | sed 's/.*: bar/bar/')" >&2
xdotool key ctrl+q
expect_clean_exit 15 "Ctrl+Q after the cancel"

# --- 4c: a video: open, scrub, compare before/after, process to a file; cancel ---
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=320x240:rate=10:duration=2 \
  -c:v libx264 -g 10 -pix_fmt yuv420p "$work/clip.mp4"
start_gui "$work/video.log" --op gray "$work/clip.mp4"
wait_for 30 "the video to open" grep -q "opened video .*clip.mp4 (320x240, 20 frames, 10 fps)" "$work/video.log"
wait_for 30 "the first frame and its preview" grep -q "video: frame 1 of 20 previewed with gray" "$work/video.log"
focus_main
# Three steps at once: frames asked for while one decodes may be skipped, the last one is shown.
xdotool key Right Right Right
wait_for 10 "frame 4 and its preview" grep -q "video: frame 4 of 20 previewed with gray" "$work/video.log"
xdotool key End
wait_for 10 "the last frame" grep -q "video: frame 20 of 20 previewed with gray" "$work/video.log"
xdotool key Home Right
wait_for 10 "frame 2" grep -q "video: frame 2 of 20 previewed with gray" "$work/video.log"
echo "gui_e2e: video: the slider moved with the keys, each frame shown and previewed" >&2
# The split view of frame 2: the colour original left of the line, the gray preview right of it.
sleep 0.5
import -window root -crop 1280x800+0+0 "$shots/video.png"
read -r ix iy iw ih <<<"$(image_rect "$work/video.log")"
[ -n "$ih" ] || fail "the window did not say where the video frame lies"
if [ "$ix" -lt 340 ] || [ $((ix + iw)) -gt 1280 ]; then
  fail "the video frame is not fitted inside the view: x $ix to $((ix + iw)) (the view is 340 to 1280)"
fi
half=$((iw / 2 - 32))
left=$(colourful "$shots/video.png" "${half}x$((ih - 24))+$((ix + 12))+$((iy + 12))")
right=$(colourful "$shots/video.png" "${half}x$((ih - 24))+$((ix + iw / 2 + 20))+$((iy + 12))")
[ "$left" -gt 1000 ] || fail "the original frame should show in colour left of the line ($left colour pixels)"
[ "$right" -eq 0 ] || fail "the gray preview right of the line has $right colour pixels"
echo "gui_e2e: video: before/after split on the current frame ($left colour pixels left, none right)" >&2
xdotool key ctrl+Return
type_into_dialog "Process the video into" "$work/out.mkv"
wait_for 60 "the video to be written" grep -q "Wrote $work/out.mkv: 20 frames" "$work/video.log"
grep -q "processing the video on 3 rank" "$work/video.log" || fail "the video did not run on the 3 ranks"
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 \
  "$work/out.mkv")
[ "$frames" = 20 ] || fail "the GUI's video has $frames frames, the input 20"
# One pace: the bar at the end says what the message says.
said=$(grep -o "Wrote $work/out.mkv: 20 frames, [0-9.]* frames/s" "$work/video.log" | grep -o "[0-9.]* frames/s")
grep "bar at the end: 20/20 frames · $said, in" "$work/video.log" >/dev/null ||
  fail "the bar's pace differs from the message's ($said): $(grep 'bar at the end' "$work/video.log")"
grep -q "0/0 strips" "$work/video.log" && fail "a video's bar said 0/0 strips"
ffmpeg -v error -i "$work/out.mkv" -f rawvideo -pix_fmt rgb24 - >"$work/out.rgb"
python3 -c "import sys; d = open(sys.argv[1], 'rb').read(); sys.exit(not (d and d[0::3] == d[1::3] == d[2::3]))" \
  "$work/out.rgb" || fail "the GUI's video frames are not gray (the channels differ)"
"$bin" video --op gray "$work/clip.mp4" -o "$work/out-cli.mkv" 2>/dev/null
ffmpeg -v error -i "$work/out-cli.mkv" -f rawvideo -pix_fmt rgb24 - | cmp - "$work/out.rgb" ||
  fail "the GUI's video differs from the CLI's"
echo "gui_e2e: video: written with 20 gray frames, equal to the CLI's" >&2
focus_main
xdotool key ctrl+q
expect_clean_exit 15 "Ctrl+Q after the video"

# A video that takes a while (20 s of 640x480 at 25 fps, bilateral), cancelled with Esc.
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=640x480:rate=25:duration=20 \
  -c:v libx264 -g 25 -pix_fmt yuv420p "$work/long.mp4"
# A truncated video named on the command line: an error naming it; then the long one through
# Ctrl+O (a video picked in the image dialog opens as a video).
head -c 20000 "$work/long.mp4" >"$work/broken.mp4"
start_gui "$work/video-cancel.log" --op bilateral:d=15 "$work/broken.mp4"
wait_for 30 "the broken video's error" grep -q "error: .*$work/broken.mp4" "$work/video-cancel.log"
grep -q "opened video" "$work/video-cancel.log" && fail "a truncated video was opened"
echo "gui_e2e: video: a truncated video is refused by name: $(grep -o "error: .*" "$work/video-cancel.log" | head -c 160)" >&2
focus_main
xdotool key ctrl+o
type_into_dialog "Open image" "$work/long.mp4"
wait_for 30 "the long video to open" grep -q "opened video .*long.mp4 (640x480, 500 frames" "$work/video-cancel.log"
wait_for 30 "its first preview" grep -q "video: frame 1 of 500 previewed" "$work/video-cancel.log"
sleep 0.5
read -r ix iy iw ih <<<"$(image_rect "$work/video-cancel.log")"
if [ "$ix" -lt 340 ] || [ $((ix + iw)) -gt 1280 ]; then
  fail "the 640x480 video is not fitted inside the view: x $ix to $((ix + iw)) (the view is 340 to 1280)"
fi
focus_main
xdotool key ctrl+Return
type_into_dialog "Process the video into" "$work/cancelled.mkv"
wait_for 30 "the video job to start" grep -q "processing the video on 3 rank" "$work/video-cancel.log"
sleep 3 # chunks run on every rank: the bar counts frames
shot video-running
focus_main
started=$(date +%s%N)
xdotool key Escape
wait_for 10 "the video job to stop after Esc" grep -q "cancelled after" "$work/video-cancel.log"
took_ms=$((($(date +%s%N) - started) / 1000000))
echo "gui_e2e: video: Esc to the cancelled state: $took_ms ms" >&2
[ "$took_ms" -lt 5000 ] || fail "cancelling the video took $took_ms ms"
grep -q "Cancelled: $work/cancelled.mkv was not written" "$work/video-cancel.log" ||
  fail "the window did not say the video was cancelled: $(grep 'imgproc gui' "$work/video-cancel.log" | tail -3)"
[ ! -e "$work/cancelled.mkv" ] || fail "a cancelled video left its output file"
wait_for 5 "the cancelled bar" grep -q "bar: cancelled · .* frames done" "$work/video-cancel.log"
grep -q "bar at the end: cancelled" "$work/video-cancel.log" || fail "a cancelled video's bar reads as a success"
focus_main
xdotool key ctrl+q
expect_clean_exit 15 "Ctrl+Q after cancelling the video"

# --- 4d: the window shows the truth (issue 24) ---------------------------------
# A resize chain, named on the command line: interpolation by name; Process in one place; a
# resized result visible in the split view and side by side; a preset saved in the menu.
# A batch cancelled mid-job: neutral, neither failed nor done.
mkdir -p "$work/slow-batch"
for i in 1 2 3 4 5 6; do
  "$root/target/release/examples/synth" 1600 1200 3 "$i" "$work/slow-batch/photo-$i.png"
done
start_gui "$work/batch-cancel.log" --op bilateral:d=25 "$work/slow-batch"
focus_main
xdotool key ctrl+Return
wait_for 60 "a first batch image" grep -qE "bar: [0-9]+ % · [1-5]/6 images" "$work/batch-cancel.log"
xdotool key Escape
wait_for 30 "the batch to stop" grep -q "bar at the end: cancelled · [1-5]/6 images done, after" "$work/batch-cancel.log"
grep "bar at the end" "$work/batch-cancel.log" | grep -q failed && fail "a cancelled batch shows failures"
echo "gui_e2e: batch: $(grep 'bar at the end' "$work/batch-cancel.log" | sed 's/.*: bar/bar/')" >&2
focus_main
xdotool key ctrl+q
expect_clean_exit 15 "Ctrl+Q after cancelling a batch"

half="resize:scale=0.5:interpolation=area,invert"
start_gui "$work/truth.log" --op "$half" "$root/samples/astronaut.jpg"
wait_for 30 "the sample to open" grep -q "opened .*astronaut.jpg" "$work/truth.log"
wait_for 10 "Process to be shown" grep -q "place: Process at" "$work/truth.log"
focus_main
process_before=$(place "$work/truth.log" Process)
xdotool key ctrl+s # refused: a message appears
wait_for 10 "the refusal" grep -q "nothing to save yet" "$work/truth.log"
sleep 0.5
[ "$(place "$work/truth.log" Process)" = "$process_before" ] ||
  fail "a message moved Process from $process_before to $(place "$work/truth.log" Process)"
xdotool key ctrl+Return
wait_for 60 "the resized result" grep -q "image processed on 3 rank" "$work/truth.log"
grep -q "processing the image on 3 rank(s) with --op resize:width=0:height=0:scale=0.5:keep-aspect=true:interpolation=area,invert" \
  "$work/truth.log" || fail "the CLI line does not name the interpolation: $(grep -o 'with --op.*' "$work/truth.log")"
sleep 0.5
[ "$(place "$work/truth.log" Process)" = "$process_before" ] ||
  fail "Process moved from $process_before to $(place "$work/truth.log" Process) after a job"
echo "gui_e2e: Process stays at $process_before with a message and after a job; interpolation=area by name" >&2
grep -q "bar: 100 %" "$work/truth.log" && fail "the bar read 100 % before the job ended"
grep -q "0/0 strips" "$work/truth.log" && fail "the bar said 0/0 strips: $(grep -m1 '0/0 strips' "$work/truth.log")"
# The resize (rank 0, on the whole image) is a piece of the job, then the invert's 3 strips.
grep -q "bar: 4/4 strips" "$work/truth.log" ||
  fail "the bar does not count rank 0's resize: $(grep 'bar' "$work/truth.log" | tail -2)"
"$bin" run --reference --op "$half" samples/astronaut.jpg -o "$work/half.png" 2>/dev/null
# The split line at the left edge: only the result, drawn over the whole original's area.
xdotool key 0
wait_for 5 "the fit with the result" grep -q "the result lies at .*result 256x256, Split" "$work/truth.log"
read -r ix iy iw ih <<<"$(image_rect "$work/truth.log")"
drag_split $((ix + iw / 2)) $((ix - 30)) $((iy + ih / 2))
wait_for 5 "the line at the left edge" grep -q "split line at 0 %" "$work/truth.log"
grab resized
inner="$((iw - 24))x$((ih - 24))+$((ix + 12))+$((iy + 12))"
empty=$(count_colour "$work/resized.png" "$inner" "24,24,24")
[ "$empty" -lt 100 ] || fail "the resized result leaves $empty pixels of the image's area empty"
d=$(rmse "$work/resized.png" "${iw}x${ih}+${ix}+${iy}" "$work/half.png")
below 0.1 "$d" || fail "the split view does not show the resized result over the original's area (RMSE $d)"
echo "gui_e2e: a 256x256 result of a 512x512 original fills its area in the split view (RMSE $d)" >&2
shot resized
# Side by side (a mode change refits): both halves whole, each its own picture.
click_place "$work/truth.log" "Side by side"
wait_for 5 "side by side" grep -q "the result lies at .*SideBySide" "$work/truth.log"
read -r ix iy iw ih <<<"$(image_rect "$work/truth.log")"
read -r rx ry rw rh <<<"$(result_rect "$work/truth.log")"
grab side-by-side
convert "$root/samples/astronaut.jpg" "$work/original.png"
dl=$(rmse "$work/side-by-side.png" "${iw}x${ih}+${ix}+${iy}" "$work/original.png")
dr=$(rmse "$work/side-by-side.png" "${rw}x${rh}+${rx}+${ry}" "$work/half.png")
below 0.1 "$dl" || fail "the left half does not show the whole original (RMSE $dl)"
below 0.1 "$dr" || fail "the right half does not show the whole result (RMSE $dr)"
echo "gui_e2e: side by side after a mode change: original (RMSE $dl) and result (RMSE $dr) whole" >&2
# A preset: the menu stays open while its name is typed; Enter saves it.
click_place "$work/truth.log" Presets
wait_for 5 "the preset name field" grep -q "place: preset name at" "$work/truth.log"
xdotool type --delay 20 "half negative"
xdotool key Return
wait_for 5 "the preset to be saved" grep -q 'Preset "half negative" saved' "$work/truth.log"
focus_main
xdotool key Escape ctrl+q
expect_clean_exit 15 "Ctrl+Q after saving a preset"
grep -qF 'presets:{\"half negative\":' "$state" || fail "the preset was not stored: $(grep -o 'presets:.\{0,80\}' "$state")"

# The next start, with another chain: the preset applied from the menu; side by side (the saved
# mode) is fitted when the result arrives.
start_gui "$work/truth2.log" --op gray "$root/samples/astronaut.jpg"
wait_for 30 "the sample to open" grep -q "opened .*astronaut.jpg" "$work/truth2.log"
focus_main
click_place "$work/truth2.log" Presets
wait_for 5 "the preset in the menu" grep -q "place: preset half negative at" "$work/truth2.log"
click_place "$work/truth2.log" "preset half negative"
wait_for 5 "the preset to apply" grep -q 'preset "half negative" applied: the chain is resize:.*interpolation=area,invert' \
  "$work/truth2.log"
echo "gui_e2e: a preset saved in one start is applied in the next" >&2
focus_main
xdotool key ctrl+Return
wait_for 60 "the result" grep -q "image processed on 3 rank" "$work/truth2.log"
wait_for 5 "the side-by-side fit" grep -q "the result lies at .*SideBySide" "$work/truth2.log"
read -r ix iy iw ih <<<"$(image_rect "$work/truth2.log")"
read -r rx ry rw rh <<<"$(result_rect "$work/truth2.log")"
grab side-by-side-2
shot side-by-side
dl=$(rmse "$work/side-by-side-2.png" "${iw}x${ih}+${ix}+${iy}" "$work/original.png")
dr=$(rmse "$work/side-by-side-2.png" "${rw}x${rh}+${rx}+${ry}" "$work/half.png")
below 0.1 "$dl" || fail "after Process, the left half does not show the whole original (RMSE $dl)"
below 0.1 "$dr" || fail "after Process, the right half does not show the whole result (RMSE $dr)"
[ "$rx" -ge $((ix + iw)) ] || fail "the result (x $rx) overlaps the original (to x $((ix + iw)))"
echo "gui_e2e: side by side after Process: both halves fitted (RMSE $dl and $dr)" >&2

# A 16-bit gray PNG and an RGBA PNG: what they hold is said on opening (and the last job's bar
# goes). The chain (resize, invert) takes 16 bits: the result is 16-bit; invert takes no alpha:
# it is dropped, and said. Both equal the one-process reference.
convert "$root/samples/astronaut.jpg" -resize 200x150 -colorspace gray -depth 16 -define png:bit-depth=16 "$work/deep.png"
convert "$root/samples/astronaut.jpg" -resize 200x150 \( +clone -fx 'i/w' \) -alpha off -compose CopyOpacity \
  -composite "$work/alpha.png"
[ "$(identify -format '%[depth] %[channels]' "$work/deep.png")" = "16 gray" ] || fail "deep.png is not 16-bit gray"
case "$(identify -format '%[channels]' "$work/alpha.png")" in srgba | rgba) ;; *) fail "alpha.png has no alpha" ;; esac
processed=$(grep -c 'image processed on 3 rank' "$work/truth2.log")
for input in deep alpha; do
  focus_main
  xdotool key ctrl+o
  type_into_dialog "Open image" "$work/$input.png"
  wait_for 30 "$input.png to open" grep -q "opened .*$input.png" "$work/truth2.log"
  wait_for 5 "the last job's bar to go" sh -c "grep 'imgproc gui: bar:' '$work/truth2.log' | tail -1 | grep -q 'bar: none'"
  focus_main
  xdotool key ctrl+Return
  processed=$((processed + 1))
  wait_for 60 "$input.png processed" sh -c "[ \$(grep -c 'image processed on 3 rank' '$work/truth2.log') -ge $processed ]"
  [ $input = deep ] && shot deep
  xdotool key ctrl+s
  type_into_dialog "Save result" "$work/out/$input-gui.png"
  wait_for 30 "the save" grep -q "Saved $work/out/$input-gui.png" "$work/truth2.log"
  "$bin" run --reference --op "$half" "$work/$input.png" -o "$work/out/$input-ref.png" 2>"$work/$input-ref.err"
  compare -metric AE "$work/out/$input-gui.png" "$work/out/$input-ref.png" null: 2>"$work/ae.txt" ||
    fail "$input.png: the GUI's result differs from the reference in $(cat "$work/ae.txt") pixels"
done
grep -q "opened $work/deep.png (150x150, 16-bit gray)" "$work/truth2.log" || fail "the 16-bit PNG's depth was not shown"
grep -q "opened $work/alpha.png (150x150, 8-bit colour with alpha (RGBA))" "$work/truth2.log" ||
  fail "the RGBA PNG's alpha was not shown"
[ "$(identify -format '%[depth] %[channels]' "$work/out/deep-gui.png")" = "16 gray" ] ||
  fail "the 16-bit result is not 16-bit gray: $(identify "$work/out/deep-gui.png")"
grep -q "Note: $work/alpha.png is 8-bit colour with alpha (RGBA): its alpha channel is dropped: invert takes no alpha" \
  "$work/truth2.log" || fail "the RGBA PNG's alpha was dropped without a word"
grep -q "warning: .*alpha.png .*invert takes no alpha" "$work/alpha-ref.err" || fail "the CLI did not warn of the alpha"
grep -q "Note: $work/deep.png" "$work/truth2.log" && fail "a 16-bit input kept whole was said to lose something"
case "$(identify -format '%[channels]' "$work/out/alpha-gui.png")" in srgb | rgb) ;; *) fail "the alpha was not dropped as said" ;; esac
echo "gui_e2e: a 16-bit PNG shown and kept 16-bit, an RGBA PNG shown and its alpha dropped as said, both equal to the reference" >&2

# At 800 px wide the view is fitted again and no zoom control is cut off.
win=$(xdotool search --onlyvisible --name "^imgproc .* rank" | head -1)
fits=$(grep -c "view: the image lies at" "$work/truth2.log")
xdotool windowsize "$win" 800 600
wait_for 10 "the view to refit" sh -c "[ \$(grep -c 'view: the image lies at' '$work/truth2.log') -gt $fits ]"
sleep 0.5
for name in "1:1" "−" "+" zoom; do
  read -r x y w h <<<"$(place "$work/truth2.log" "$name")"
  [ $((x + w)) -le 800 ] || fail "at 800 px wide, '$name' is cut off (it ends at x $((x + w)))"
done
echo "gui_e2e: at 800 px wide the view refits and 1:1, −, + and the zoom stay in view" >&2
shot narrow
xdotool windowsize "$win" 1280 800 # the size the later sections expect
focus_main
xdotool key ctrl+q
expect_clean_exit 15 "Ctrl+Q after the truth checks"

# --- 4e: Classify mode: a batch labelled on every rank, the labels on the tiles --
models=$work/models
/usr/bin/python3 tests/models/make_models.py "$models" >/dev/null
mkdir -p "$work/colours"
/usr/bin/python3 - "$work/colours" <<'PY'
import sys
import cv2
import numpy as np
rng = np.random.default_rng(7)
for i, (name, ch) in enumerate([("red", 2), ("green", 1), ("blue", 0)] * 2):
    h, w = 300 + 20 * i, 420
    img = (rng.random((h, w, 3)) * 60).astype(np.uint8)
    img[:, :, ch] = np.clip(img[:, :, ch] + np.linspace(120, 190, w)[None, :], 0, 255).astype(np.uint8)
    cv2.circle(img, (w // 2, h // 2), h // 4, (230, 230, 230), -1)
    cv2.imwrite(f"{sys.argv[1]}/{name}-{i}.png", img)
PY
start_gui "$work/classify.log" --model "$models/colour.onnx" "$work/colours"
focus_main
wait_for 30 "the Classify button" grep -q "place: Classify at" "$work/classify.log"
grab classify-before
click_place "$work/classify.log" Classify
wait_for 60 "the classify run" grep -q "Classify: 6 done, 0 failed" "$work/classify.log"
grep -q "classifying the batch on 3 rank" "$work/classify.log" || fail "classify did not run on 3 ranks"
sleep 1
shot classify
grab classify-after
# The best label of each tile is drawn in its own colour (batch_view::labels_line).
before=$(count_colour "$work/classify-before.png" "$grid" "255,210,120")
labels=$(count_colour "$work/classify-after.png" "$grid" "255,210,120")
[ "$before" -lt 5 ] || fail "label-coloured pixels before classifying ($before): the check cannot tell"
[ "$labels" -gt 40 ] || fail "no labels on the thumbnails ($labels label-coloured pixels)"
echo "gui_e2e: classify: 6 images labelled on 3 ranks, labels on the tiles ($labels px)" >&2
focus_main
xdotool key ctrl+q
expect_clean_exit 15 "Ctrl+Q after classifying"

# --- 5: quit mid-job; the next start does not run it again ---------------------
start_gui "$work/quit.log" --op "$slow" "$work/big.png"
wait_for 30 "the big image to open" grep -q "opened .*big.png" "$work/quit.log"
process_slowly "$work/quit.log"
interrupted || fail "a running job is not recorded as running: $(head -c 300 "$state")"
focus_main
xdotool key ctrl+q
expect_clean_exit 15 "Ctrl+Q mid-job"
interrupted && fail "a deliberate quit left the job marked interrupted"
start_gui "$work/after-quit.log"
sleep 2
grep -q "interrupted\|processing\|opened" "$work/after-quit.log" &&
  fail "the start after a quit reopened or re-ran the job: $(cat "$work/after-quit.log")"
focus_main
xdotool key ctrl+q
expect_clean_exit 15 "Ctrl+Q when idle"

# --- 6: the window destroyed mid-job; the next start resumes the job ----------
start_gui "$work/destroyed.log" "$work/big.png"
wait_for 30 "the big image to open" grep -q "opened .*big.png" "$work/destroyed.log"
process_slowly "$work/destroyed.log"
xdotool windowclose "$(xdotool search --name "^imgproc .* rank" | head -1)"
expect_clean_exit 30 "the window was destroyed mid-job"
grep -q "the window was lost" "$work/destroyed.log" || fail "no word of the lost window"
interrupted || fail "a job cut short by a lost window is not marked interrupted"
start_gui "$work/resumed.log"
wait_for 30 "the interrupted job to run again" grep -q "processing the image on 3 rank" "$work/resumed.log"
grep -q "was interrupted" "$work/resumed.log" || fail "the resumed job was not announced"
focus_main
xdotool key ctrl+q
expect_clean_exit 15 "Ctrl+Q during the resumed job"

# --- 7: the X server gone mid-job, after a GTK dialog --------------------------
display2=:$((80 + RANDOM % 9))
Xvfb "$display2" -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb2.log" 2>&1 &
xvfb2_pid=$!
DISPLAY=$display2 wait_for 10 "the second Xvfb" xdpyinfo
(
  export DISPLAY=$display2
  start_gui "$work/xlost.log"
  focus_main
  xdotool key ctrl+o
  type_into_dialog "Open image" "$work/big.png"
  wait_for 30 "the big image to open" grep -q "opened .*big.png" "$work/xlost.log"
  process_slowly "$work/xlost.log"
  kill "$xvfb2_pid"
  expect_clean_exit 30 "the X server went away mid-job"
  grep -q "display was lost" "$work/xlost.log" || fail "no word of the lost display"
)
xvfb2_pid=

# --- 8: no display -------------------------------------------------------------
set +e
env -u DISPLAY timeout 60 mpirun --oversubscribe -np 2 "$bin" >"$work/nodisplay.log" 2>&1
code=$?
set -e
[ $code -eq 3 ] || fail "without a display: exit $code, expected 3"
grep -q "no display" "$work/nodisplay.log" || fail "without a display: no explanation"
grep -q "imgproc run" "$work/nodisplay.log" || fail "without a display: the CLI is not suggested"

echo "gui_e2e: all passed; screenshots in $shots" >&2
