//! Region statistics (what the viewer shows beside a selected box, polygon or mask) against numpy
//! on SimpleITK's reading of the corpus CT (`tools/check_region_stats.py`): the same voxels (centres
//! inside), mean, standard deviation, minimum and maximum of the HU values.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

mod common;

use voxmark::core::annotation::Shape;
use voxmark::core::{MaskTiles, VoxelBox, region_stats};

#[test]
fn region_statistics_match_numpy_on_the_corpus_ct() {
    let Some(data) = common::corpus() else { return };
    let ct = data.join("dicom/series/ct_abdomen_20sl_j2kr");
    let volume = common::load_one(&ct);
    let [sx, sy, sz] = volume.spacing_mm();
    let shapes = [
        Shape::Box2d {
            slice: 7,
            min: [180.3, 200.6],
            max: [260.2, 251.4],
        },
        Shape::Box3d {
            min: [300.0, 150.0, 4.0],
            max: [340.0, 190.0, 9.0],
        },
        Shape::Polygon {
            slice: 12,
            points: vec![
                [100.2, 300.7],
                [180.6, 280.3],
                [210.4, 350.9],
                [130.1, 370.2],
            ],
        },
    ];
    let spec = serde_json::json!([
        {"box2d": [7, 180.3, 200.6, 260.2, 251.4]},
        {"box3d": [300.0, 150.0, 4.0, 340.0, 190.0, 9.0]},
        {"polygon": [12, [[100.2, 300.7], [180.6, 280.3], [210.4, 350.9], [130.1, 370.2]]]},
    ]);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/check_region_stats.py");
    let Some(reference) = common::python_json(&[
        script.as_os_str(),
        ct.as_os_str(),
        spec.to_string().as_ref(),
    ]) else {
        return;
    };
    for (n, shape) in shapes.iter().enumerate() {
        let ours = region_stats(&volume, shape, None).unwrap();
        let theirs = &reference[n];
        assert_eq!(
            ours.voxels as u64,
            theirs["voxels"].as_u64().unwrap(),
            "{shape:?}"
        );
        for (name, v) in [
            ("mean", ours.mean),
            ("sd", ours.sd),
            ("min", ours.min),
            ("max", ours.max),
        ] {
            let t = theirs[name].as_f64().unwrap();
            assert!(
                (v - t).abs() <= 1e-9 * t.abs().max(1.0),
                "{shape:?} {name}: {v} vs {t}"
            );
        }
    }
    // Area of the 2D outlines, volume of the 3D box's voxels.
    let box_area = (260.2 - 180.3) * sx * (251.4 - 200.6) * sy;
    let a = region_stats(&volume, &shapes[0], None)
        .unwrap()
        .area_mm2
        .unwrap();
    assert!((a - box_area).abs() < 1e-9, "{a} {box_area}");
    let v = region_stats(&volume, &shapes[1], None).unwrap();
    assert_eq!(v.voxels, 41 * 41 * 6);
    assert!((v.volume_mm3.unwrap() - 41.0 * 41.0 * 6.0 * sx * sy * sz).abs() < 1e-6);
    // A mask: the 3D box's voxels painted give the same numbers; points and lines have no inside.
    let mut mask = MaskTiles::new(volume.size());
    let b = VoxelBox {
        min: [300, 150, 4],
        max: [341, 191, 10],
    };
    mask.write_box(b, &vec![1u8; b.len()]);
    assert_eq!(region_stats(&volume, &Shape::Mask, Some(&mask)), Some(v));
    assert_eq!(
        region_stats(
            &volume,
            &Shape::Point {
                at: [1.0, 2.0, 3.0]
            },
            None
        ),
        None
    );
}
