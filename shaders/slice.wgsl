// Slice pass: one full-screen triangle; each fragment maps its pixel centre to voxel coordinates of the image,
// the label map and the heatmap (each through its own affine map, composed on the CPU in f64 as
// voxel_from_world ∘ world_from_screen), samples them, windows the image with the DICOM linear function,
// colours it, and composites heatmap and labels on top.
//
// Volumes are 3D textures in their stored precision (8/16/32-bit integers or 32-bit float) read with
// textureLoad only; linear sampling is done here by hand (integer textures are not filterable).

// Keep in sync with `SliceUniforms` in src/render/slice.rs (a test compares the layouts).
struct SliceUniforms {
    // Rows of the 3×3 maps "voxel = row.x * px + row.y * py + row.z" from framebuffer pixels (x right, y down,
    // pixel centres at +0.5) to continuous voxel indices (voxel centres at integers).
    image_rows: array<vec4<f32>, 3>,
    label_rows: array<vec4<f32>, 3>,
    heat_rows: array<vec4<f32>, 3>,
    // Grid sizes (x, y, z, components).
    image_size: vec4<i32>,
    label_size: vec4<i32>,
    heat_size: vec4<i32>,
    // Rescale slope, rescale intercept, window centre, window width (modality units).
    value_map: vec4<f32>,
    // Heatmap value mapped to colormap index 0, to index 255, heatmap opacity, label opacity.
    heat_map: vec4<f32>,
    // Image texel kind (0 uint, 1 sint, 2 float), image interpolation (0 nearest, 1 linear), colormap row,
    // flags (bit 0 invert/MONOCHROME1, bit 1 labels, bit 2 label outline, bit 3 heatmap, bit 4 sRGB target).
    modes: vec4<u32>,
    // Heatmap colormap row, heatmap interpolation, label outline width in pixels, unused.
    modes2: vec4<u32>,
    // Colour outside the image, 0..1.
    background: vec4<f32>,
}

@group(0) @binding(0) var<uniform> u: SliceUniforms;
@group(0) @binding(1) var image_u: texture_3d<u32>;
@group(0) @binding(2) var image_i: texture_3d<i32>;
@group(0) @binding(3) var image_f: texture_3d<f32>;
@group(0) @binding(4) var labels: texture_3d<u32>;
@group(0) @binding(5) var heat: texture_3d<f32>;
// 256 × N Rgba8Unorm: one colormap per row (grey, hot, viridis).
@group(0) @binding(6) var colormaps: texture_2d<f32>;
// 256 × 256 Rgba8Unorm: colour and opacity of label L at (L % 256, L / 256).
@group(0) @binding(7) var label_lut: texture_2d<f32>;

const FLAG_INVERT: u32 = 1u;
const FLAG_LABELS: u32 = 2u;
const FLAG_OUTLINE: u32 = 4u;
const FLAG_HEAT: u32 = 8u;
const FLAG_SRGB: u32 = 16u;

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

// True when the nearest voxel of continuous index v lies in a grid of `size`.
fn inside_nearest(v: vec3<f32>, size: vec3<i32>) -> bool {
    let n = vec3<f32>(size);
    return all(v >= vec3<f32>(-0.5)) && all(v < n - vec3<f32>(0.5));
}

// Stored value of component c (0..3) of voxel ijk, as f32.
fn image_texel(ijk: vec3<i32>) -> vec4<f32> {
    switch u.modes.x {
        case 0u: {
            return vec4<f32>(textureLoad(image_u, ijk, 0));
        }
        case 1u: {
            return vec4<f32>(textureLoad(image_i, ijk, 0));
        }
        default: {
            return textureLoad(image_f, ijk, 0);
        }
    }
}

// Trilinear interpolation of the image at continuous index v (clamped to the edge voxels).
fn image_linear(v: vec3<f32>) -> vec4<f32> {
    let hi = u.image_size.xyz - vec3<i32>(1);
    let vc = clamp(v, vec3<f32>(0.0), vec3<f32>(hi));
    let base = vec3<i32>(floor(vc));
    let f = vc - floor(vc);
    let b1 = min(base + vec3<i32>(1), hi);
    let c000 = image_texel(base);
    let c100 = image_texel(vec3<i32>(b1.x, base.y, base.z));
    let c010 = image_texel(vec3<i32>(base.x, b1.y, base.z));
    let c110 = image_texel(vec3<i32>(b1.x, b1.y, base.z));
    let c001 = image_texel(vec3<i32>(base.x, base.y, b1.z));
    let c101 = image_texel(vec3<i32>(b1.x, base.y, b1.z));
    let c011 = image_texel(vec3<i32>(base.x, b1.y, b1.z));
    let c111 = image_texel(b1);
    let x00 = mix(c000, c100, f.x);
    let x10 = mix(c010, c110, f.x);
    let x01 = mix(c001, c101, f.x);
    let x11 = mix(c011, c111, f.x);
    return mix(mix(x00, x10, f.y), mix(x01, x11, f.y), f.z);
}

fn heat_linear(v: vec3<f32>) -> f32 {
    let hi = u.heat_size.xyz - vec3<i32>(1);
    let vc = clamp(v, vec3<f32>(0.0), vec3<f32>(hi));
    let base = vec3<i32>(floor(vc));
    let f = vc - floor(vc);
    let b1 = min(base + vec3<i32>(1), hi);
    let x00 = mix(textureLoad(heat, base, 0).x, textureLoad(heat, vec3<i32>(b1.x, base.y, base.z), 0).x, f.x);
    let x10 = mix(textureLoad(heat, vec3<i32>(base.x, b1.y, base.z), 0).x, textureLoad(heat, vec3<i32>(b1.x, b1.y, base.z), 0).x, f.x);
    let x01 = mix(textureLoad(heat, vec3<i32>(base.x, base.y, b1.z), 0).x, textureLoad(heat, vec3<i32>(b1.x, base.y, b1.z), 0).x, f.x);
    let x11 = mix(textureLoad(heat, vec3<i32>(base.x, b1.y, b1.z), 0).x, textureLoad(heat, b1, 0).x, f.x);
    return mix(mix(x00, x10, f.y), mix(x01, x11, f.y), f.z);
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

fn colormap(row: u32, level: f32) -> vec3<f32> {
    return textureLoad(colormaps, vec2<i32>(i32(level), i32(row)), 0).rgb;
}

fn label_at(p: vec2<f32>) -> u32 {
    let v = map_point(u.label_rows, p);
    if !inside_nearest(v, u.label_size.xyz) {
        return 0u;
    }
    return textureLoad(labels, vec3<i32>(floor(v + vec3<f32>(0.5))), 0).x;
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + vec3<f32>(0.055)) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let p = in.position.xy;
    let flags = u.modes.w;
    var rgb = u.background.rgb;
    var alpha = u.background.a;

    let v = map_point(u.image_rows, p);
    if inside_nearest(v, u.image_size.xyz) {
        var stored: vec4<f32>;
        if u.modes.y == 1u {
            stored = image_linear(v);
        } else {
            stored = image_texel(vec3<i32>(floor(v + vec3<f32>(0.5))));
        }
        let modality = stored * u.value_map.x + vec4<f32>(u.value_map.y);
        if u.image_size.w >= 3 {
            // Colour images: each channel windowed, no colormap.
            rgb = vec3<f32>(window_level(modality.x), window_level(modality.y), window_level(modality.z)) / 255.0;
        } else {
            var level = window_level(modality.x);
            if (flags & FLAG_INVERT) != 0u {
                level = 255.0 - level;
            }
            rgb = colormap(u.modes.z, level);
        }
        alpha = 1.0;
    }

    if (flags & FLAG_LABELS) != 0u {
        let label = label_at(p);
        if label != 0u {
            var draw = true;
            if (flags & FLAG_OUTLINE) != 0u {
                let d = f32(u.modes2.z);
                draw = label_at(p + vec2<f32>(d, 0.0)) != label || label_at(p - vec2<f32>(d, 0.0)) != label
                    || label_at(p + vec2<f32>(0.0, d)) != label || label_at(p - vec2<f32>(0.0, d)) != label;
            }
            if draw {
                let colour = textureLoad(label_lut, vec2<i32>(i32(label % 256u), i32(label / 256u)), 0);
                let a = colour.a * u.heat_map.w;
                rgb = mix(rgb, colour.rgb, a);
                alpha = max(alpha, a);
            }
        }
    }

    if (flags & FLAG_HEAT) != 0u {
        let hv = map_point(u.heat_rows, p);
        if inside_nearest(hv, u.heat_size.xyz) {
            var h: f32;
            if u.modes2.y == 1u {
                h = heat_linear(hv);
            } else {
                h = textureLoad(heat, vec3<i32>(floor(hv + vec3<f32>(0.5))), 0).x;
            }
            let lo = u.heat_map.x;
            let hi = u.heat_map.y;
            // Values below the low end (and NaN) are transparent.
            if !is_nan(h) && h >= lo {
                let t = clamp((h - lo) / max(hi - lo, 1e-30), 0.0, 1.0);
                let colour = colormap(u.modes2.x, floor(t * 255.0 + 0.5));
                rgb = mix(rgb, colour, u.heat_map.z);
                alpha = max(alpha, u.heat_map.z);
            }
        }
    }

    // Round to the 8-bit level here so that the framebuffer's conversion cannot move it.
    rgb = floor(rgb * 255.0 + vec3<f32>(0.5)) / 255.0;
    if (flags & FLAG_SRGB) != 0u {
        rgb = srgb_to_linear(rgb);
    }
    return vec4<f32>(rgb, alpha);
}
