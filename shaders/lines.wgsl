// Vector overlays (boxes, polygons, crosshair): triangles tessellated on the CPU from polylines, positions
// already in normalised device coordinates, one colour per vertex (linearised on the CPU for sRGB targets),
// alpha-blended over the slice in the same render pass.

// Keep in sync with `LineVertex` in src/render/lines.rs.
struct LineVertex {
    @location(0) position: vec2<f32>,
    @location(1) colour: vec4<f32>,
}

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) colour: vec4<f32>,
}

@vertex
fn vs_main(v: LineVertex) -> VertexOut {
    var out: VertexOut;
    out.position = vec4<f32>(v.position, 0.0, 1.0);
    out.colour = v.colour;
    return out;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    return in.colour;
}
