#!/usr/bin/env python3
"""Writes cafe_walk.jsonl: a synthetic 72 Hz tracking recording for demos and the client
bench — the user looks around the café terrace, reaches out with the right hand and pulls
the trigger, walks forward with the left stick and snap-turns once with the right stick.
Same format as `nexus-client --record` (client/src/tracking_file.rs). Deterministic:
rerunning it gives the same file."""
import json, math, os

HZ, FRAMES = 72.0, 288


def quat_yaw_pitch(yaw, pitch):
    # q = qy(yaw) * qx(pitch)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    return [cy * sp, sy * cp, -sy * sp, cy * cp]  # x, y, z, w


def rotate(q, v):
    x, y, z, w = q
    # v' = q v q*
    ix = w * v[0] + y * v[2] - z * v[1]
    iy = w * v[1] + z * v[0] - x * v[2]
    iz = w * v[2] + x * v[1] - y * v[0]
    iw = -x * v[0] - y * v[1] - z * v[2]
    return [ix * w + iw * -x + iy * -z - iz * -y, iy * w + iw * -y + iz * -x - ix * -z, iz * w + iw * -z + ix * -y - iy * -x]


def hand(pos, rot, trigger=0.0, stick=(0.0, 0.0)):
    pose = {"position": pos, "rotation": rot}
    return {"tracked": True, "grip": pose, "aim": pose, "trigger": trigger, "squeeze": 0.0, "pinch": 0.0, "stick": list(stick)}


def rounded(v):
    if isinstance(v, float):
        return round(v, 5)
    if isinstance(v, list):
        return [rounded(x) for x in v]
    if isinstance(v, dict):
        return {k: rounded(x) for k, x in v.items()}
    return v


def frame(i):
    t = i / HZ
    yaw = 0.35 * math.sin(t * 0.9)
    pitch = -0.08 + 0.05 * math.sin(t * 1.7)
    head = [0.02 * math.sin(t * 2.1), 1.59 + 0.01 * math.sin(t * 3.0), 0.0]
    hq = quat_yaw_pitch(yaw, pitch)
    reach = max(0.0, math.sin(t * 1.3))
    right = [head[k] + d for k, d in enumerate(rotate(hq, [0.22, -0.35 + 0.15 * reach, -0.25 - 0.25 * reach]))]
    left = [head[k] + d for k, d in enumerate(rotate(quat_yaw_pitch(yaw, 0.0), [-0.2, -0.62, -0.12]))]
    walking = 1.0 if 1.5 < t < 2.6 else 0.0
    turning = 1.0 if 3.0 < t < 3.2 else 0.0
    fwd = rotate(hq, [0.0, 0.0, -1.0])
    rig = {
        "head": {"position": head, "rotation": hq},
        "left": hand(left, quat_yaw_pitch(yaw, 0.0), stick=(0.0, walking)),
        "right": hand(right, hq, trigger=1.0 if reach > 0.9 else 0.0, stick=(turning, 0.0)),
        "gaze": {"origin": head, "direction": fwd},
    }
    return {"frame": i, "t": round(t, 6), "rig": rounded(rig)}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cafe_walk.jsonl")
    with open(out, "w") as f:
        f.write(json.dumps({"format": "nexus-tracking", "version": 1, "source": "Replay", "frame_hz": HZ}) + "\n")
        for i in range(FRAMES):
            f.write(json.dumps(frame(i), separators=(",", ":")) + "\n")
    print(out)


if __name__ == "__main__":
    main()
