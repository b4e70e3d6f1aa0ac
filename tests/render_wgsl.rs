//! Shaders without a GPU: every WGSL file under `shaders/` parses and validates with naga, and the
//! uniform structs have the size and member offsets of their `#[repr(C)]` Rust twins.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

use std::path::{Path, PathBuf};

fn wgsl_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wgsl"))
        .collect();
    files.sort();
    files
}

fn parse(path: &Path) -> naga::Module {
    let source = std::fs::read_to_string(path).unwrap();
    let module = naga::front::wgsl::parse_str(&source)
        .unwrap_or_else(|e| panic!("{}:\n{}", path.display(), e.emit_to_string(&source)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .unwrap_or_else(|e| {
        panic!(
            "{} does not validate:\n{}",
            path.display(),
            e.emit_to_string(&source)
        )
    });
    module
}

#[test]
fn every_wgsl_file_validates() {
    let files = wgsl_files();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"slice.wgsl".to_string()) && names.contains(&"lines.wgsl".to_string()),
        "{names:?}"
    );
    for f in &files {
        let module = parse(f);
        let stages: Vec<naga::ShaderStage> = module.entry_points.iter().map(|e| e.stage).collect();
        assert!(
            stages.contains(&naga::ShaderStage::Vertex)
                && stages.contains(&naga::ShaderStage::Fragment),
            "{}: {stages:?}",
            f.display()
        );
    }
}

/// `(size, [(member, offset)])` of a struct named `name` in `module`.
#[cfg(feature = "gpu")]
fn struct_layout(module: &naga::Module, name: &str) -> (u32, Vec<(String, u32)>) {
    for (_, ty) in module.types.iter() {
        if ty.name.as_deref() == Some(name)
            && let naga::TypeInner::Struct { members, span } = &ty.inner
        {
            let m = members
                .iter()
                .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                .collect();
            return (*span, m);
        }
    }
    panic!("no struct {name}");
}

#[cfg(feature = "gpu")]
#[test]
fn slice_uniforms_match_the_wgsl_struct() {
    use std::mem::{offset_of, size_of};
    use voxmark::render::SliceUniforms;
    let module = parse(&Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders/slice.wgsl"));
    let (span, members) = struct_layout(&module, "SliceUniforms");
    assert_eq!(span as usize, size_of::<SliceUniforms>());
    let rust = [
        ("image_rows", offset_of!(SliceUniforms, image_rows)),
        ("label_rows", offset_of!(SliceUniforms, label_rows)),
        ("heat_rows", offset_of!(SliceUniforms, heat_rows)),
        ("image_size", offset_of!(SliceUniforms, image_size)),
        ("label_size", offset_of!(SliceUniforms, label_size)),
        ("heat_size", offset_of!(SliceUniforms, heat_size)),
        ("value_map", offset_of!(SliceUniforms, value_map)),
        ("heat_map", offset_of!(SliceUniforms, heat_map)),
        ("modes", offset_of!(SliceUniforms, modes)),
        ("modes2", offset_of!(SliceUniforms, modes2)),
        ("background", offset_of!(SliceUniforms, background)),
    ];
    let wgsl: Vec<(String, usize)> = members.into_iter().map(|(n, o)| (n, o as usize)).collect();
    let rust: Vec<(String, usize)> = rust.iter().map(|(n, o)| (n.to_string(), *o)).collect();
    assert_eq!(wgsl, rust);
}

#[cfg(feature = "gpu")]
#[test]
fn line_vertex_matches_the_wgsl_inputs() {
    use voxmark::render::LineVertex;
    let module = parse(&Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders/lines.wgsl"));
    let mut found = false;
    for (_, ty) in module.types.iter() {
        if ty.name.as_deref() == Some("LineVertex")
            && let naga::TypeInner::Struct { members, .. } = &ty.inner
        {
            let sizes: Vec<Option<naga::VectorSize>> = members
                .iter()
                .map(|m| match module.types[m.ty].inner {
                    naga::TypeInner::Vector { size, scalar } => {
                        assert_eq!(scalar, naga::Scalar::F32);
                        Some(size)
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(
                sizes,
                [Some(naga::VectorSize::Bi), Some(naga::VectorSize::Quad)]
            );
            found = true;
        }
    }
    assert!(found, "no LineVertex in lines.wgsl");
    // Float32x2 + Float32x4, tightly packed.
    assert_eq!(std::mem::size_of::<LineVertex>(), 8 + 16);
}
