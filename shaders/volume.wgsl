// Volume pass: one full-screen triangle; each fragment casts the ray of its pixel (built on the CPU from an
// orbit camera in patient space, LPS mm, and composed in f64 with voxel_from_world, so the shader sees the
// ray as a continuous voxel index plus a direction in voxels per mm), clips it to the volume's box
// (voxel centres at integers, faces at -0.5 and size - 0.5), and samples it:
//
// - Sample positions lie on planes k / n of the voxel axis the ray runs most along, with n the smallest
//   whole number that makes the step at most the requested one (about half the smallest voxel spacing).
//   A ray along a voxel axis therefore meets every voxel centre it passes, and MIP/MinIP equal the
//   extremes of the voxel values along it. With jitter, the first plane moves by a fraction of a step from
//   a hash of the pixel, which turns banding into fine noise.
// - MIP and MinIP keep the extreme modality value (rescale applied) and window it with the DICOM linear
//   function (as slice.wgsl does); the ray stops once the window saturates.
// - DVR looks each sample up in a transfer function (RGBA over modality values, opacity per reference
//   step), corrects the opacity for the actual step (1 − (1 − a)^(step / reference)), optionally shades
//   with the gradient of the trilinear interpolant (a headlight), composites front to back and stops
//   at the opacity limit (early ray termination).
//
// Volumes are 3D textures in their stored precision read with textureLoad; trilinear interpolation is
// done by hand (integer textures are not filterable). The window function, the full-screen triangle
// and the sRGB conversion follow slice.wgsl (WGSL has no includes): keep them in step.

// Keep in sync with `VolumeUniforms` in src/render/volume.rs (tests/render_volume.rs compares the layouts).
struct VolumeUniforms {
    // Rows (a, b, c, 0) of "v = a * px + b * py + c" from framebuffer pixel centres (px, py) to: the ray
    // origin as a continuous voxel index,
    origin_rows: array<vec4<f32>, 3>,
    // the ray direction in voxel units (not normalised; divide by the length of the world direction),
    dir_rows: array<vec4<f32>, 3>,
    // the ray direction in LPS (not normalised).
    world_dir_rows: array<vec4<f32>, 3>,
    // Rows of the transpose of voxel_from_world's linear part: d(value)/d(LPS) = M * d(value)/d(voxel).
    gradient_rows: array<vec4<f32>, 3>,
    // Grid size (x, y, z), unused.
    size: vec4<i32>,
    // Rescale slope, rescale intercept, window centre, window width (modality units).
    value_map: vec4<f32>,
    // MIP: stop at a value at or above this (the window is saturated); MinIP: at or below this; unused x2.
    limits: vec4<f32>,
    // Transfer function: value at its first entry, at its last entry, number of entries, reference step (mm)
    // its opacities are given for.
    tf: vec4<f32>,
    // Requested step (mm), jitter (0 or 1), opacity at which a ray stops, nearest t (mm) a sample may have.
    march: vec4<f32>,
    // Shading: ambient, diffuse, specular, shininess.
    shading: vec4<f32>,
    // Texel kind (0 uint, 1 sint, 2 float; the pipeline's TEXEL_KIND decides), mode (0 MIP, 1 MinIP, 2 DVR), flags (bit 0 invert/MONOCHROME1,
    // bit 1 shading, bit 2 sRGB target), jitter seed.
    modes: vec4<u32>,
    // Colour behind the volume, 0..1.
    background: vec4<f32>,
}

@group(0) @binding(0) var<uniform> u: VolumeUniforms;
@group(0) @binding(1) var image_u: texture_3d<u32>;
@group(0) @binding(2) var image_i: texture_3d<i32>;
@group(0) @binding(3) var image_f: texture_3d<f32>;
// N × 1 Rgba32Float: the transfer function at N evenly spaced modality values (u.tf.x .. u.tf.y).
@group(0) @binding(4) var transfer: texture_2d<f32>;

// The image's texel kind (0 uint, 1 sint, 2 float), fixed per pipeline so that sampling does not branch
// on it.
override TEXEL_KIND: u32 = 0u;

const MODE_MIP: u32 = 0u;
const MODE_MINIP: u32 = 1u;
const FLAG_INVERT: u32 = 1u;
const FLAG_SHADE: u32 = 2u;
const FLAG_SRGB: u32 = 4u;
// More samples than any ray of a 16384³ grid at a quarter-voxel step needs; a guard, not a limit in use.
const MAX_SAMPLES: i32 = 262144;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
}

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    // One triangle covering the viewport: (-1,-1), (3,-1), (-1,3).
    let x = f32(i32(index & 1u) * 4 - 1);
    let y = f32(i32(index >> 1u) * 4 - 1);
    var out: VertexOut;
    out.position = vec4<f32>(x, y, 0.0, 1.0);
    return out;
}

fn map_point(rows: array<vec4<f32>, 3>, p: vec2<f32>) -> vec3<f32> {
    return vec3<f32>(
        rows[0].x * p.x + rows[0].y * p.y + rows[0].z,
        rows[1].x * p.x + rows[1].y * p.y + rows[1].z,
        rows[2].x * p.x + rows[2].y * p.y + rows[2].z,
    );
}

// Stored values (first component, as f32) of the 8 voxels of the cell from b0 to b1, in the order
// 000, 100, 010, 110, 001, 101, 011, 111 (x fastest). One function per texel kind, so that a sample
// switches on the kind once rather than per load.
fn corners_u(b0: vec3<i32>, b1: vec3<i32>) -> array<f32, 8> {
    return array<f32, 8>(
        f32(textureLoad(image_u, b0, 0).x),
        f32(textureLoad(image_u, vec3<i32>(b1.x, b0.y, b0.z), 0).x),
        f32(textureLoad(image_u, vec3<i32>(b0.x, b1.y, b0.z), 0).x),
        f32(textureLoad(image_u, vec3<i32>(b1.x, b1.y, b0.z), 0).x),
        f32(textureLoad(image_u, vec3<i32>(b0.x, b0.y, b1.z), 0).x),
        f32(textureLoad(image_u, vec3<i32>(b1.x, b0.y, b1.z), 0).x),
        f32(textureLoad(image_u, vec3<i32>(b0.x, b1.y, b1.z), 0).x),
        f32(textureLoad(image_u, b1, 0).x),
    );
}

fn corners_i(b0: vec3<i32>, b1: vec3<i32>) -> array<f32, 8> {
    return array<f32, 8>(
        f32(textureLoad(image_i, b0, 0).x),
        f32(textureLoad(image_i, vec3<i32>(b1.x, b0.y, b0.z), 0).x),
        f32(textureLoad(image_i, vec3<i32>(b0.x, b1.y, b0.z), 0).x),
        f32(textureLoad(image_i, vec3<i32>(b1.x, b1.y, b0.z), 0).x),
        f32(textureLoad(image_i, vec3<i32>(b0.x, b0.y, b1.z), 0).x),
        f32(textureLoad(image_i, vec3<i32>(b1.x, b0.y, b1.z), 0).x),
        f32(textureLoad(image_i, vec3<i32>(b0.x, b1.y, b1.z), 0).x),
        f32(textureLoad(image_i, b1, 0).x),
    );
}

fn corners_f(b0: vec3<i32>, b1: vec3<i32>) -> array<f32, 8> {
    return array<f32, 8>(
        textureLoad(image_f, b0, 0).x,
        textureLoad(image_f, vec3<i32>(b1.x, b0.y, b0.z), 0).x,
        textureLoad(image_f, vec3<i32>(b0.x, b1.y, b0.z), 0).x,
        textureLoad(image_f, vec3<i32>(b1.x, b1.y, b0.z), 0).x,
        textureLoad(image_f, vec3<i32>(b0.x, b0.y, b1.z), 0).x,
        textureLoad(image_f, vec3<i32>(b1.x, b0.y, b1.z), 0).x,
        textureLoad(image_f, vec3<i32>(b0.x, b1.y, b1.z), 0).x,
        textureLoad(image_f, b1, 0).x,
    );
}

// Trilinear interpolation of the stored values at continuous index v (clamped to the edge voxel centres):
// x = value, yzw = its gradient in stored units per voxel (the derivative of the trilinear interpolant).
fn sample_at(v: vec3<f32>) -> vec4<f32> {
    let hi = u.size.xyz - vec3<i32>(1);
    let vc = clamp(v, vec3<f32>(0.0), vec3<f32>(hi));
    let base = vec3<i32>(floor(vc));
    let f = vc - floor(vc);
    let b1 = min(base + vec3<i32>(1), hi);
    switch TEXEL_KIND {
        case 0u: {
            return trilinear(corners_u(base, b1), f);
        }
        case 1u: {
            return trilinear(corners_i(base, b1), f);
        }
        default: {
            return trilinear(corners_f(base, b1), f);
        }
    }
}

// Value and gradient (per voxel) of the trilinear interpolant of the cell corners c at fraction f.
fn trilinear(c: array<f32, 8>, f: vec3<f32>) -> vec4<f32> {
    let x00 = mix(c[0], c[1], f.x);
    let x10 = mix(c[2], c[3], f.x);
    let x01 = mix(c[4], c[5], f.x);
    let x11 = mix(c[6], c[7], f.x);
    let y0 = mix(x00, x10, f.y);
    let y1 = mix(x01, x11, f.y);
    let value = mix(y0, y1, f.z);
    let dx = mix(mix(c[1] - c[0], c[3] - c[2], f.y), mix(c[5] - c[4], c[7] - c[6], f.y), f.z);
    let dy = mix(x10 - x00, x11 - x01, f.z);
    let dz = y1 - y0;
    return vec4<f32>(value, dx, dy, dz);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// DICOM PS3.3 C.11.2.1.2.1 linear window on a modality value, as a grey level 0..255 (rounded); NaN gives 0.
fn window_level(x: f32) -> f32 {
    if is_nan(x) {
        return 0.0;
    }
    let c = u.value_map.z;
    let w = u.value_map.w;
    var y: f32;
    if w <= 1.0 {
        y = select(255.0, 0.0, x <= c - 0.5);
    } else {
        y = ((x - (c - 0.5)) / (w - 1.0) + 0.5) * 255.0;
    }
    return floor(clamp(y, 0.0, 255.0) + 0.5);
}

// Transfer function at modality value x: straight (not premultiplied) colour and opacity per reference step.
fn transfer_at(x: f32) -> vec4<f32> {
    let n = u.tf.z;
    let span = max(u.tf.y - u.tf.x, 1e-30);
    let pos = clamp((x - u.tf.x) / span, 0.0, 1.0) * (n - 1.0);
    let i0 = i32(floor(pos));
    let i1 = min(i0 + 1, i32(n) - 1);
    let a = textureLoad(transfer, vec2<i32>(i0, 0), 0);
    let b = textureLoad(transfer, vec2<i32>(i1, 0), 0);
    return mix(a, b, pos - floor(pos));
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + vec3<f32>(0.055)) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

// A number in [0, 1) from a pixel and a seed (integer hash, no trigonometry).
fn hash01(x: u32, y: u32, seed: u32) -> f32 {
    var h = x * 0x8da6b343u ^ y * 0xd8163841u ^ seed * 0xcb1ab31fu;
    h = (h ^ (h >> 16u)) * 0x7feb352du;
    h = (h ^ (h >> 15u)) * 0x846ca68bu;
    h = h ^ (h >> 16u);
    return f32(h >> 8u) / 16777216.0;
}

fn finish(rgb_in: vec3<f32>, alpha: f32) -> vec4<f32> {
    // Round to the 8-bit level here so that the framebuffer's conversion cannot move it.
    var rgb = floor(clamp(rgb_in, vec3<f32>(0.0), vec3<f32>(1.0)) * 255.0 + vec3<f32>(0.5)) / 255.0;
    if (u.modes.z & FLAG_SRGB) != 0u {
        rgb = srgb_to_linear(rgb);
    }
    return vec4<f32>(rgb, alpha);
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let p = in.position.xy;
    let world_dir = map_point(u.world_dir_rows, p);
    let len = length(world_dir);
    let dir_lps = world_dir / len;
    // Voxels per mm along the ray.
    let dv = map_point(u.dir_rows, p) / len;
    let o = map_point(u.origin_rows, p);

    // Clip to the box: t (mm along the ray) in [t0, t1].
    let lo = vec3<f32>(-0.5);
    let hi = vec3<f32>(u.size.xyz) - vec3<f32>(0.5);
    var t0 = u.march.w;
    var t1 = 3.0e38;
    for (var a = 0; a < 3; a++) {
        if abs(dv[a]) < 1e-20 {
            if o[a] < lo[a] || o[a] > hi[a] {
                return finish(u.background.rgb, u.background.a);
            }
        } else {
            let ta = (lo[a] - o[a]) / dv[a];
            let tb = (hi[a] - o[a]) / dv[a];
            t0 = max(t0, min(ta, tb));
            t1 = min(t1, max(ta, tb));
        }
    }
    if t0 > t1 {
        return finish(u.background.rgb, u.background.a);
    }

    // Sample planes k / n of the dominant voxel axis.
    let ad = abs(dv);
    var axis = 0;
    if ad.y > ad[axis] {
        axis = 1;
    }
    if ad.z > ad[axis] {
        axis = 2;
    }
    let da = dv[axis];
    let planes = max(1.0, ceil(1.0 / (abs(da) * u.march.x) - 1e-4));
    let dt = 1.0 / (planes * abs(da));
    let entry = (o[axis] + t0 * da) * planes;
    let k = select(floor(entry + 1e-4), ceil(entry - 1e-4), da > 0.0);
    var t_first = (k / planes - o[axis]) / da;
    if t_first < t0 - 1e-3 * dt {
        t_first += dt;
    }
    t_first += u.march.y * hash01(u32(p.x), u32(p.y), u.modes.w) * dt;
    let count = min(i32(floor((t1 - t_first) / dt + 1e-3)) + 1, MAX_SAMPLES);

    let mode = u.modes.y;
    if mode == MODE_MIP || mode == MODE_MINIP {
        let is_max = mode == MODE_MIP;
        var extreme = select(3.0e38, -3.0e38, is_max);
        var any = false;
        for (var i = 0; i < count; i++) {
            let v = o + (t_first + f32(i) * dt) * dv;
            let x = sample_at(v).x * u.value_map.x + u.value_map.y;
            if is_nan(x) {
                continue;
            }
            any = true;
            if is_max {
                extreme = max(extreme, x);
                if extreme >= u.limits.x {
                    break;
                }
            } else {
                extreme = min(extreme, x);
                if extreme <= u.limits.y {
                    break;
                }
            }
        }
        if !any {
            return finish(u.background.rgb, u.background.a);
        }
        var level = window_level(extreme);
        if (u.modes.z & FLAG_INVERT) != 0u {
            level = 255.0 - level;
        }
        return finish(vec3<f32>(level / 255.0), 1.0);
    }

    // DVR, front to back.
    let exponent = dt / u.tf.w;
    let shade = (u.modes.z & FLAG_SHADE) != 0u;
    var colour = vec3<f32>(0.0);
    var alpha = 0.0;
    for (var i = 0; i < count; i++) {
        let v = o + (t_first + f32(i) * dt) * dv;
        let s = sample_at(v);
        let x = s.x * u.value_map.x + u.value_map.y;
        let c = transfer_at(x);
        if !(c.a > 0.0) {
            continue;
        }
        var a = 1.0;
        if c.a < 1.0 {
            a = 1.0 - pow(1.0 - c.a, exponent);
        }
        var rgb = c.rgb;
        if shade {
            // Gradient in modality units per mm; a headlight (light along the view direction).
            let g = vec3<f32>(
                dot(u.gradient_rows[0].xyz, s.yzw),
                dot(u.gradient_rows[1].xyz, s.yzw),
                dot(u.gradient_rows[2].xyz, s.yzw),
            ) * u.value_map.x;
            let m = length(g);
            if m > 1e-6 {
                let d = abs(dot(g / m, dir_lps));
                rgb = rgb * (u.shading.x + u.shading.y * d) + vec3<f32>(u.shading.z * pow(d, u.shading.w));
            }
        }
        colour += (1.0 - alpha) * a * rgb;
        alpha += (1.0 - alpha) * a;
        if alpha >= u.march.z {
            break;
        }
    }
    let out_rgb = colour + (1.0 - alpha) * u.background.rgb;
    let out_a = alpha + (1.0 - alpha) * u.background.a;
    return finish(out_rgb, out_a);
}
