//! DICOM SR TID 1500 export and import, checked with the reference tools: highdicom reads every
//! group back (tracking ids, SCOORDs against the regions, image and segment references),
//! dciodvfy (dicom3tools) finds no errors in the SR or its SEG, dsrdump (dcmtk) prints the golden
//! tree, and the corpus's dcmqi report reads as highdicom reads it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use voxmark::core::annotation::{Author, Grounding, Phrase, Region, Shape, Status};
use voxmark::core::{Edit, History, Id, Label, MaskTiles, VoxelBox};
use voxmark::store::Project;

fn os(s: &str) -> OsString {
    s.into()
}

fn check_sr(report: &Path) -> Option<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/check_sr.py");
    common::python_json(&[script.as_os_str(), report.as_os_str()])
}

struct Drawn {
    project: PathBuf,
    image: voxmark::store::ImageRecord,
    box2d: Id,
    polygon: Id,
    point: Id,
    mask: Id,
    model_box: Id,
    line: Id,
}

fn region(
    id: Id,
    image: Id,
    label: Option<Id>,
    shape: Shape,
    author: &Author,
    status: Status,
) -> Region {
    Region {
        id,
        image,
        label,
        shape,
        author: author.clone(),
        prompt: None,
        status,
        confidence: None,
        created_ms: 1,
        modified_ms: 1,
        reported: None,
    }
}

/// A project with the 3-slice CT of the dcmqi corpus and alice's regions on it (a box linked to a
/// phrase, a polygon linked to two, a point, a liver mask, a 3D box, a rejected box, a ruler on a
/// slice and one drawn across slices) and a model's box.
fn drawn_project(data: &Path, dir: &Path) -> Drawn {
    let project = dir.join("sr.voxmark");
    let ct = data.join("dicom/seg_sr/dcmqi_ct3slice/image");
    assert_eq!(common::voxmark([os("new"), project.clone().into()]).code, 0);
    assert_eq!(
        common::voxmark([os("add"), project.clone().into(), ct.into()]).code,
        0
    );
    let mut p = Project::open(&project).unwrap();
    let image = p.images().unwrap()[0].clone();
    let mut doc = p.load_document().unwrap();
    let alice = Author::Human("alice".into());
    let model = Author::Model {
        name: "detector".into(),
        version: "1.0".into(),
    };
    let (nodule, liver) = (Id::new(), Id::new());
    let mut h = History::new(1 << 30);
    h.begin("draw").unwrap();
    for (id, name) in [(nodule, "nodule"), (liver, "liver")] {
        h.record(
            &mut doc,
            Edit::AddLabel(Label {
                id,
                name: name.into(),
                color: [200, 40, 40, 255],
            }),
        )
        .unwrap();
    }
    let ids: Vec<Id> = (0..9).map(|_| Id::new()).collect();
    let mut mask = MaskTiles::new(image.size);
    let b = VoxelBox {
        min: [200, 220, 0],
        max: [260, 300, 3],
    };
    mask.write_box(b, &vec![1u8; 60 * 80 * 3]);
    let shapes = [
        (
            ids[0],
            Some(nodule),
            Shape::Box2d {
                slice: 1,
                min: [100.25, 120.0],
                max: [180.0, 200.75],
            },
            &alice,
            Status::Accepted,
        ),
        (
            ids[1],
            None,
            Shape::Polygon {
                slice: 0,
                points: vec![[50.0, 60.0], [90.0, 62.5], [70.0, 110.125]],
            },
            &alice,
            Status::Accepted,
        ),
        (
            ids[2],
            None,
            Shape::Point {
                at: [256.0, 300.0, 2.0],
            },
            &alice,
            Status::Accepted,
        ),
        (ids[3], Some(liver), Shape::Mask, &alice, Status::Accepted),
        (
            ids[4],
            None,
            Shape::Box3d {
                min: [1.0, 1.0, 0.0],
                max: [9.0, 9.0, 2.0],
            },
            &alice,
            Status::Accepted,
        ),
        (
            ids[5],
            None,
            Shape::Box2d {
                slice: 0,
                min: [1.0, 1.0],
                max: [5.0, 5.0],
            },
            &alice,
            Status::Rejected,
        ),
        (
            ids[6],
            Some(nodule),
            Shape::Box2d {
                slice: 2,
                min: [300.0, 310.0],
                max: [340.0, 350.0],
            },
            &model,
            Status::Proposed,
        ),
        (
            ids[7],
            None,
            Shape::Line {
                a: [30.0, 40.0, 1.0],
                b: [130.5, 90.0, 1.0],
            },
            &alice,
            Status::Accepted,
        ),
        (
            ids[8],
            None,
            Shape::Line {
                a: [30.0, 40.0, 0.0],
                b: [60.0, 40.0, 2.0],
            },
            &alice,
            Status::Accepted,
        ),
    ];
    for (id, label, shape, author, status) in shapes {
        let is_mask = shape == Shape::Mask;
        h.record(
            &mut doc,
            Edit::AddRegion {
                region: region(id, image.id, label, shape, author, status),
                mask: is_mask.then(|| mask.clone()),
                links: vec![],
            },
        )
        .unwrap();
    }
    for (text, regions) in [
        ("right lower lobe nodule", vec![ids[0]]),
        ("small left effusion", vec![ids[1]]),
        ("no change since the prior study", vec![ids[1]]),
    ] {
        h.record(
            &mut doc,
            Edit::AddPhrase {
                phrase: Phrase {
                    id: Id::new(),
                    image: image.id,
                    text: text.into(),
                    author: alice.clone(),
                    span: None,
                    category: None,
                    grounding: Grounding::Annotated,
                    created_ms: 1,
                    modified_ms: 1,
                },
                links: regions,
            },
        )
        .unwrap();
    }
    p.commit(&h.commit().unwrap().unwrap(), "human:alice")
        .unwrap();
    Drawn {
        project,
        image,
        box2d: ids[0],
        polygon: ids[1],
        point: ids[2],
        mask: ids[3],
        model_box: ids[6],
        line: ids[7],
    }
}

fn export_sr(d: &Drawn, out: &Path, author: &str) -> common::Run {
    export_sr_with(d, out, author, &[])
}

fn export_sr_with(d: &Drawn, out: &Path, author: &str, extra: &[&str]) -> common::Run {
    let mut args = vec![
        os("export"),
        d.project.clone().into(),
        os("--format"),
        os("dicom-sr"),
        os("--image"),
        os(&d.image.id.full()),
        os("--author"),
        os(author),
        os("--out"),
        out.into(),
    ];
    args.extend(extra.iter().map(|a| os(a)));
    common::voxmark(args)
}

fn uid(id: Id) -> String {
    format!("2.25.{}", id.as_u128())
}

#[test]
fn sr_export_is_read_by_highdicom_and_passes_dciodvfy_and_imports_back() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = drawn_project(&data, dir.path());
    let out = dir.path().join("report.dcm");
    let run = export_sr(&d, &out, "human:alice");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("5 region(s) by human:alice: 4 planar and 1 volumetric"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("1 3D box(es) left out"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("1 rejected region(s)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("1 line(s) drawn across slices left out"),
        "{}",
        run.stderr
    );
    let seg = dir.path().join("report.seg.dcm");
    assert!(seg.is_file());

    // dciodvfy: no errors in either object.
    for f in [&out, &seg] {
        if let Some(errors) = common::dciodvfy_errors(f) {
            assert!(errors.is_empty(), "dciodvfy {}: {errors:#?}", f.display());
        }
    }

    // highdicom reads every group back.
    if let Some(v) = check_sr(&out) {
        assert_eq!(v["observers"][0]["type"], "Person", "{v}");
        assert_eq!(v["observers"][0]["name"], "alice", "{v}");
        let planar = v["planar"].as_array().unwrap();
        assert_eq!(planar.len(), 4, "{v}");
        let group = |id: Id| {
            planar
                .iter()
                .find(|g| g["tracking_uid"] == uid(id))
                .unwrap_or_else(|| panic!("no group {} in {v}", uid(id)))
        };
        let points = |g: &serde_json::Value| -> Vec<[f64; 2]> {
            g["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
                .collect()
        };
        // The box: OHIF's RectangleROI, a closed POLYLINE round its corners, 0.5 from voxel centres.
        let b = group(d.box2d);
        assert_eq!(b["tracking_id"], "Cornerstone3DTools@^0.1.0:RectangleROI");
        assert_eq!(b["graphic_type"], "POLYLINE");
        assert_eq!(
            points(b),
            vec![
                [100.75, 120.5],
                [180.5, 120.5],
                [180.5, 201.25],
                [100.75, 201.25],
                [100.75, 120.5]
            ]
        );
        assert_eq!(b["finding"][2], "nodule");
        let area = b["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "Area")
            .unwrap();
        let expected = 79.75 * 80.75 * d.image.spacing_mm[0] * d.image.spacing_mm[1];
        assert!(
            (area["value"].as_f64().unwrap() - expected).abs() < 1e-3,
            "{area}"
        );
        assert_eq!(area["unit"], "mm2");
        // The polygon: PlanarFreehandROI, closed; the point: Probe.
        let p = group(d.polygon);
        assert_eq!(
            p["tracking_id"],
            "Cornerstone3DTools@^0.1.0:PlanarFreehandROI"
        );
        let expected = [[50.5, 60.5], [90.5, 63.0], [70.5, 110.625], [50.5, 60.5]];
        for (a, e) in points(p).iter().zip(expected) {
            assert!(
                (a[0] - e[0]).abs() < 1e-6 && (a[1] - e[1]).abs() < 1e-6,
                "{a:?} {e:?}"
            );
        }
        let q = group(d.point);
        assert_eq!(q["graphic_type"], "POINT");
        assert_eq!(points(q), vec![[256.5, 300.5]]);
        // The ruler: OHIF's Length, an open POLYLINE of its ends in a Length NUM (mm).
        let l = group(d.line);
        assert_eq!(l["tracking_id"], "Cornerstone3DTools@^0.1.0:Length");
        assert_eq!(l["graphic_type"], "POLYLINE");
        assert_eq!(points(l), vec![[30.5, 40.5], [131.0, 90.5]]);
        let length = l["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "Length")
            .unwrap_or_else(|| panic!("no Length in {l}"));
        let [sx, sy, _] = d.image.spacing_mm;
        let expected = (100.5 * sx).hypot(50.0 * sy);
        assert!(
            (length["value"].as_f64().unwrap() - expected).abs() < 1e-6,
            "{length} vs {expected}"
        );
        assert_eq!(length["unit"], "mm");
        // Each lies on the instance at its slice: compare the instance's position (pydicom) with
        // the slice's.
        let slices = voxmark::io::dicom::sr::slice_instances(&voxmark::io::dicom::SourceGrid {
            files: &d.image.files,
            size: d.image.size,
            spacing_mm: d.image.spacing_mm,
            origin_lps_mm: d.image.origin_lps_mm,
            direction: d.image.direction,
        })
        .unwrap();
        for (g, k) in [(b, 1usize), (p, 0), (q, 2), (l, 1)] {
            assert_eq!(
                g["image"]["sop_instance_uid"],
                slices[k].instance_uid.as_str(),
                "{g}"
            );
        }
        // The mask: a volumetric group over segment 1 of the SEG beside it.
        let vol = &v["volumetric"][0];
        assert_eq!(vol["tracking_uid"], uid(d.mask), "{v}");
        assert_eq!(vol["segment"]["segment_number"], 1, "{v}");
        let seg_uid = voxmark::io::dicom::sop_instance_uid(&seg).unwrap();
        assert_eq!(vol["segment"]["sop_instance_uid"], seg_uid.as_str(), "{v}");
        assert_eq!(vol["finding"][2], "liver", "{v}");
        let volume = vol["measurements"][0]["value"].as_f64().unwrap();
        let voxel: f64 = d.image.spacing_mm.iter().product();
        assert!(
            (volume - 60.0 * 80.0 * 3.0 * voxel).abs() < 1e-2,
            "{volume}"
        );
    }

    // The model's report: a device observer, its algorithm on the group.
    let model_out = dir.path().join("model.dcm");
    let run = export_sr_with(&d, &model_out, "model:detector@1.0", &["--deidentify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    if let Some(v) = check_sr(&model_out) {
        assert_eq!(v["observers"][0]["type"], "Device", "{v}");
        assert_eq!(v["planar"][0]["algorithm"][0], "detector", "{v}");
        assert_eq!(v["planar"][0]["algorithm"][1], "1.0", "{v}");
    }
    if let Some(errors) = common::dciodvfy_errors(&model_out) {
        assert!(errors.is_empty(), "dciodvfy: {errors:#?}");
    }

    // An author with no regions: exit 1, and the authors who have some are named.
    let run = export_sr(&d, &dir.path().join("none.dcm"), "human:bob");
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("human:alice (8)"), "{}", run.stderr);
    assert!(!dir.path().join("none.dcm").exists());

    // Import both into a new project on the same image: the same regions come back.
    let fresh = dir.path().join("fresh.voxmark");
    assert_eq!(common::voxmark([os("new"), fresh.clone().into()]).code, 0);
    let ct = data.join("dicom/seg_sr/dcmqi_ct3slice/image");
    assert_eq!(
        common::voxmark([os("add"), fresh.clone().into(), ct.into()]).code,
        0
    );
    for report in [&out, &model_out] {
        let run = common::voxmark([
            os("import"),
            fresh.clone().into(),
            os("--format"),
            os("dicom-sr"),
            report.into(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let back = Project::open(&fresh).unwrap().load_document().unwrap();
    let before = Project::open(&d.project).unwrap().load_document().unwrap();
    for id in [d.box2d, d.polygon, d.point, d.mask, d.model_box, d.line] {
        let (a, b) = (&before.regions[&id], &back.regions[&id]);
        assert_eq!(a.author, b.author, "{id}");
        match (&a.shape, &b.shape) {
            (Shape::Polygon { points: pa, .. }, Shape::Polygon { points: pb, .. }) => {
                for (x, y) in pa.iter().zip(pb) {
                    assert!((x[0] - y[0]).abs() < 1e-4 && (x[1] - y[1]).abs() < 1e-4);
                }
            }
            (sa, sb) => assert_eq!(sa, sb, "{id}"),
        }
        let name = |doc: &voxmark::core::Document, r: &Region| {
            r.label.map(|l| doc.labels[&l].name.clone())
        };
        assert_eq!(name(&before, a), name(&back, b), "{id}");
        let texts = |doc: &voxmark::core::Document| {
            let mut t: Vec<String> = doc
                .phrases_of(id)
                .map(|p| doc.phrases[&p].text.clone())
                .collect();
            t.sort();
            t
        };
        assert_eq!(texts(&before), texts(&back), "{id}");
    }
    assert_eq!(back.regions[&d.model_box].status, Status::Proposed);
    assert_eq!(back.masks[&d.mask].count(), before.masks[&d.mask].count());
    assert_eq!(back.regions.len(), 6);
}

#[test]
fn dsrdump_prints_the_golden_tree() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = drawn_project(&data, dir.path());
    let out = dir.path().join("report.dcm");
    assert_eq!(export_sr(&d, &out, "human:alice").code, 0);
    let Some(dump) = common::dicom_tool("dsrdump", &[os("-Ph").as_os_str(), out.as_os_str()])
    else {
        return;
    };
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    // UIDs, dates and times change with every export; region UIDs with every project.
    let text = String::from_utf8_lossy(&dump.stdout);
    let normal = normalise_dump(&text, &[d.box2d, d.polygon, d.point, d.mask, d.line]);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sr_tid1500.dsrdump.txt");
    if std::env::var("VOXMARK_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &normal).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(
        normal,
        expected,
        "dsrdump output differs from {}",
        golden.display()
    );
}

fn normalise_dump(text: &str, regions: &[Id]) -> String {
    let mut out = text.to_owned();
    for (n, id) in regions.iter().enumerate() {
        out = out.replace(&uid(*id), &format!("<region {n}>"));
    }
    out.lines()
        .map(|l| {
            let mut words: Vec<String> = Vec::new();
            for w in l.split(' ') {
                let bare = w.trim_matches(|c: char| "\"(),=".contains(c));
                let digits =
                    |s: &str| s.len() >= 10 && s.chars().all(|c| c.is_ascii_digit() || c == '.');
                if digits(bare) && bare.contains('.') {
                    words.push(w.replace(bare, "<uid>"));
                } else if bare.len() == 10
                    && bare.chars().nth(4) == Some('-')
                    && bare.chars().nth(7) == Some('-')
                {
                    words.push(w.replace(bare, "<date>"));
                } else if bare.len() == 8 && bare.chars().nth(2) == Some(':') {
                    words.push(w.replace(bare, "<time>"));
                } else {
                    words.push(w.to_owned());
                }
            }
            words.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn the_corpus_dcmqi_report_reads_as_highdicom_reads_it() {
    let Some(data) = common::corpus() else { return };
    let file = data.join("dicom/seg_sr/dcmqi_tid1500/sr.dcm");
    let ours = voxmark::io::dicom::sr::read(&file).unwrap();
    let Some(v) = check_sr(&file) else { return };
    assert_eq!(
        ours.observers,
        vec![voxmark::io::dicom::sr::Observer::Person("User2".into())]
    );
    let theirs = v["volumetric"].as_array().unwrap();
    assert_eq!(ours.groups.len(), theirs.len());
    for (g, t) in ours.groups.iter().zip(theirs) {
        assert_eq!(g.tracking_id.as_deref(), t["tracking_id"].as_str());
        assert_eq!(g.tracking_uid.as_deref(), t["tracking_uid"].as_str());
        assert_eq!(
            g.finding.as_ref().map(|f| f.meaning.as_str()),
            t["finding"][2].as_str()
        );
        match &g.geometry {
            voxmark::io::dicom::sr::ReadGeometry::Volumetric {
                segment,
                source_series,
            } => {
                assert_eq!(
                    segment.instance_uid,
                    t["segment"]["sop_instance_uid"].as_str().unwrap()
                );
                assert_eq!(segment.segment, Some(1));
                assert_eq!(source_series.as_deref(), t["source_series"].as_str());
            }
            other => panic!("not volumetric: {other:?}"),
        }
        let m = t["measurements"].as_array().unwrap();
        assert_eq!(g.measurements.len(), m.len());
        for (a, b) in g.measurements.iter().zip(m) {
            assert_eq!(a.name.meaning, b["name"].as_str().unwrap());
            assert_eq!(a.unit.value, b["unit"].as_str().unwrap());
            assert!(
                (a.value - b["value"].as_f64().unwrap()).abs() < 1e-9,
                "{a:?} {b}"
            );
            assert_eq!(
                a.derivation.as_ref().map(|d| d.meaning.as_str()),
                b["derivation"].as_str()
            );
        }
    }
    // `voxmark info --json` lists the same groups and values.
    let (run, info) = common::info_json(&[&file]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let listed = &info["non_images"][0]["measurement_report"]["groups"][0];
    assert_eq!(listed["tracking_id"], "primary tumor", "{info}");
    assert_eq!(listed["kind"], "volumetric");
    let listed_values: Vec<f64> = listed["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_f64().unwrap())
        .collect();
    let their_values: Vec<f64> = theirs[0]["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_f64().unwrap())
        .collect();
    assert_eq!(listed_values, their_values);
    // Its images (a PET series) are not in this project: import says so and changes nothing.
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p.voxmark");
    assert_eq!(common::voxmark([os("new"), project.clone().into()]).code, 0);
    let run = common::voxmark([
        os("import"),
        project.into(),
        os("--format"),
        os("dicom-sr"),
        file.into(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("primary tumor"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing imported"), "{}", run.stderr);
}

/// The corpus's dcmqi report lands once the series it was drawn on is in the project. That PET
/// series is not in the corpus: `tools/make_dcmqi_source.py` writes a stand-in with the identities
/// and geometry the real SEG references (and no activity). The real report and the real SEG then
/// import as one mask region by the report's observer, labelled with its finding. Its volume as
/// Voxmark measures it equals both numpy's count of the SEG's voxels and the report's own Volume.
/// The report's 22 values are kept with the region exactly as highdicom reads them. They travel
/// back out in an SR export, and once the mask is edited they are marked as no longer describing
/// it and left out of the next export.
#[test]
fn the_corpus_dcmqi_report_lands_with_the_values_it_reports() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let seg = data.join("dicom/seg_sr/dcmqi_tid1500/seg.dcm");
    let file = data.join("dicom/seg_sr/dcmqi_tid1500/sr.dcm");
    let pet = dir.path().join("pet");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/make_dcmqi_source.py");
    let Some(source) = common::python_json(&[script.as_os_str(), seg.as_os_str(), pet.as_os_str()])
    else {
        return;
    };
    let Some(theirs) = check_sr(&file) else {
        return;
    };
    let theirs = theirs["volumetric"][0]["measurements"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(theirs.len(), 22);
    let project = dir.path().join("p.voxmark");
    assert_eq!(common::voxmark([os("new"), project.clone().into()]).code, 0);
    let run = common::voxmark([os("add"), project.clone().into(), pet.into()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("dicom-sr"),
        file.clone().into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("imported 1 of 1 measurement group(s)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("kept the report's 22 measurement value(s)"),
        "{}",
        run.stdout
    );
    let p = Project::open(&project).unwrap();
    let doc = p.load_document().unwrap();
    assert_eq!(doc.regions.len(), 1);
    let r = doc.regions.values().next().unwrap().clone();
    assert_eq!(r.shape, Shape::Mask);
    assert_eq!(r.author.to_string(), "human:User2");
    assert_eq!(doc.labels[&r.label.unwrap()].name, "Neoplasm, Primary");
    drop(p);

    let stats = |project: &Path| -> serde_json::Value {
        let run = common::voxmark([os("stats"), project.into(), os("--json")]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()["regions"][0].clone()
    };
    let row = stats(&project);
    assert_eq!(row["voxels"], source["voxels"], "{row}");
    let volume_ml = row["volume_mm3"].as_f64().unwrap() / 1000.0;
    assert!((volume_ml - source["volume_ml"].as_f64().unwrap()).abs() < 1e-9);
    let reported_volume = theirs
        .iter()
        .find(|m| m["name"] == "Volume")
        .and_then(|m| m["value"].as_f64())
        .unwrap();
    // The report states 6 significant digits.
    assert!(
        (volume_ml - reported_volume).abs() / reported_volume < 1e-5,
        "{volume_ml} ml measured, {reported_volume} ml reported"
    );
    assert_eq!(row["reported"]["current"], true, "{row}");
    let values = row["reported"]["values"].as_array().unwrap();
    assert_eq!(values.len(), theirs.len());
    for (ours, t) in values.iter().zip(&theirs) {
        assert_eq!(ours["name"]["meaning"], t["name"], "{ours} {t}");
        assert_eq!(ours["name"]["code"], t["code"][0], "{ours} {t}");
        assert_eq!(ours["unit"]["code"], t["unit"], "{ours} {t}");
        assert_eq!(ours["value"].as_f64(), t["value"].as_f64(), "{ours} {t}");
        assert_eq!(
            ours["derivation"]["meaning"].as_str(),
            t["derivation"].as_str(),
            "{ours} {t}"
        );
    }

    // Exported again (with a SEG beside it), highdicom reads the report's values back, with
    // Voxmark's own Volume in place of the report's.
    let out = dir.path().join("again.dcm");
    let export = |out: &Path| {
        common::voxmark([
            os("export"),
            project.clone().into(),
            os("--format"),
            os("dicom-sr"),
            os("--image"),
            r.image.full().into(),
            os("--truth-author"),
            os("human:User2"),
            os("--out"),
            out.into(),
        ])
    };
    let run = export(&out);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // dciodvfy finds no errors with the foreign codes and units in it (nor in its SEG).
    for f in [out.clone(), dir.path().join("again.seg.dcm")] {
        if let Some(errors) = common::dciodvfy_errors(&f) {
            assert!(errors.is_empty(), "dciodvfy {}: {errors:#?}", f.display());
        }
    }
    let back = check_sr(&out).unwrap();
    let again = back["volumetric"][0]["measurements"].as_array().unwrap();
    assert_eq!(again.len(), theirs.len(), "{back}");
    assert_eq!(again[0]["name"], "Volume");
    assert_eq!(again[0]["unit"], "mm3");
    assert!((again[0]["value"].as_f64().unwrap() / 1000.0 - volume_ml).abs() < 1e-6);
    let not_volume: Vec<_> = theirs.iter().filter(|m| m["name"] != "Volume").collect();
    for (a, t) in again[1..].iter().zip(not_volume) {
        assert_eq!(
            (&a["name"], &a["unit"], &a["derivation"], &a["code"]),
            (&t["name"], &t["unit"], &t["derivation"], &t["code"])
        );
        let (a, t) = (a["value"].as_f64().unwrap(), t["value"].as_f64().unwrap());
        assert!((a - t).abs() <= 1e-9 * t.abs(), "{a} {t}");
    }

    // One voxel erased: the values no longer describe the mask.
    let mut p = Project::open(&project).unwrap();
    let mut doc = p.load_document().unwrap();
    let mask = doc.masks[&r.id].clone();
    let [nx, ny, nz] = mask.size();
    let at = (0..nx * ny * nz)
        .map(|n| [n % nx, n / nx % ny, n / (nx * ny)])
        .find(|&v| mask.get(v) != 0)
        .unwrap();
    let bounds = VoxelBox {
        min: at,
        max: [at[0] + 1, at[1] + 1, at[2] + 1],
    };
    let edit = voxmark::core::paint::paint_edit(r.id, &mask, bounds, &[true], 0).unwrap();
    let mut history = History::new(1 << 20);
    history.begin("erase").unwrap();
    history.record(&mut doc, edit).unwrap();
    p.commit(&history.commit().unwrap().unwrap(), "human:bob")
        .unwrap();
    drop(p);
    let row = stats(&project);
    assert_eq!(row["reported"]["current"], false, "{row}");
    let run = export(&dir.path().join("edited.dcm"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("were left out: the regions were edited since"),
        "{}",
        run.stderr
    );
    let back = check_sr(&dir.path().join("edited.dcm")).unwrap();
    let again = back["volumetric"][0]["measurements"].as_array().unwrap();
    assert_eq!(again.len(), 1, "{back}");
}

/// A new project in `dir` with the images at `images`, and `voxmark import --format dicom-sr`
/// of `report` into it (with `extra` arguments): the project and the import's run.
fn sr_into_new_project(
    dir: &Path,
    images: &Path,
    report: &Path,
    extra: &[&str],
) -> (PathBuf, common::Run) {
    let project = dir.join("p.voxmark");
    assert_eq!(common::voxmark([os("new"), project.clone().into()]).code, 0);
    let add = common::voxmark([os("add"), project.clone().into(), images.into()]);
    assert_eq!(add.code, 0, "{}", add.stderr);
    let mut args = vec![
        os("import"),
        project.clone().into(),
        os("--format"),
        os("dicom-sr"),
        report.into(),
    ];
    args.extend(extra.iter().map(|a| os(a)));
    let run = common::voxmark(args);
    (project, run)
}

/// The project's document and the SOP instances of its first image's slices, in slice order.
fn document_and_slices(
    project: &Path,
) -> (
    voxmark::core::Document,
    Vec<voxmark::io::dicom::sr::ImageRef>,
) {
    let p = Project::open(project).unwrap();
    let image = p.images().unwrap()[0].clone();
    let slices = voxmark::io::dicom::sr::slice_instances(&voxmark::io::dicom::SourceGrid {
        files: &image.files,
        size: image.size,
        spacing_mm: image.spacing_mm,
        origin_lps_mm: image.origin_lps_mm,
        direction: image.direction,
    })
    .unwrap();
    (p.load_document().unwrap(), slices)
}

/// Node and the adapter in `tools/ohif`, or `None` (a skip, unless CI requires them).
fn ohif_tools() -> Option<PathBuf> {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/ohif");
    if tools.join("node_modules/@cornerstonejs/adapters").is_dir() {
        return Some(tools);
    }
    assert!(
        std::env::var("VOXMARK_REQUIRE_OHIF").as_deref() != Ok("1"),
        "tools/ohif has no node_modules: run `npm ci` there"
    );
    eprintln!("skipped the OHIF adapter check: run `npm ci` in tools/ohif (Node 20) to enable it");
    None
}

/// A report as OHIF saves measurements (the Cornerstone3D adapter's `generateReport`, run by
/// `tools/ohif/generate.mjs` on tools placed on the corpus CT's three slices) imports into Voxmark:
/// a Length becomes a ruler, a RectangleROI a box, a PlanarFreehandROI a polygon with its vertices,
/// an EllipticalROI or a CircleROI a polygon round its centre, a Probe a point, an ArrowAnnotate a
/// point at its tip, a Bidirectional two rulers (its axes, each with its own length), each on the
/// slice it references,
/// each label a phrase linked to it; an anonymous OHIF user ("unknown^unknown") is the author given
/// on the command line; and the statistics OHIF cached (mean, SD, max…) are kept with the regions,
/// while the lengths and areas Voxmark measures on them equal the ones OHIF wrote.
#[test]
fn an_ohif_report_imports_with_its_tools_labels_and_statistics() {
    let Some(data) = common::corpus() else { return };
    let Some(tools) = ohif_tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ct = data.join("dicom/seg_sr/dcmqi_ct3slice/image");
    let report = dir.path().join("ohif.dcm");
    let mut args = vec![
        tools.join("generate.mjs").into_os_string(),
        report.clone().into_os_string(),
    ];
    for f in ["01.dcm", "02.dcm", "03.dcm"] {
        args.push(ct.join(f).into_os_string());
    }
    let o = std::process::Command::new("node")
        .args(&args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let made: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    let made = made["annotations"].as_array().unwrap().clone();
    assert_eq!(made.len(), 9);

    let (project, run) =
        sr_into_new_project(dir.path(), &ct, &report, &["--author", "human:carol"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("imported 9 of 9 measurement group(s) as 10 region(s)"),
        "{}",
        run.stdout
    );
    let (doc, slices) = document_and_slices(&project);
    let stats = common::voxmark([os("stats"), project.clone().into(), os("--json")]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    let stats: serde_json::Value = serde_json::from_str(&stats.stdout).unwrap();
    let near = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol * b.abs().max(1.0);
    for m in &made {
        let label = m["label"].as_str().unwrap();
        // Its region: the one its label's phrase is linked to.
        let phrase = doc
            .phrases
            .values()
            .find(|ph| ph.text == label)
            .unwrap_or_else(|| panic!("no phrase {label:?}"));
        let region = doc
            .regions_of(phrase.id)
            .next()
            .and_then(|r| doc.regions.get(&r))
            .unwrap_or_else(|| panic!("{label:?} grounds no region"));
        assert_eq!(region.author.to_string(), "human:carol");
        assert_eq!(phrase.author.to_string(), "human:carol");
        let k = slices
            .iter()
            .position(|s| m["sop_instance_uid"] == s.instance_uid.as_str())
            .unwrap();
        let pts: Vec<[f64; 2]> = m["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
            .collect();
        let row = stats["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["region"] == region.id.full())
            .unwrap();
        let reported = |name: &str| {
            row["reported"]["values"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"]["meaning"] == name)
                .and_then(|v| v["value"].as_f64())
                .unwrap_or_else(|| panic!("{label}: no reported {name} in {row}"))
        };
        let said = |key: &str| m["stats"][key].as_f64().unwrap();
        // OHIF computes image coordinates in float32 (gl-matrix): within 1e-3 of a voxel.
        let same = |a: &[[f64; 2]], b: &[[f64; 2]]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(p, q)| (p[0] - q[0]).abs() < 1e-3 && (p[1] - q[1]).abs() < 1e-3)
        };
        match m["tool"].as_str().unwrap() {
            "Length" => {
                let Shape::Line { a, b } = region.shape else {
                    panic!("{:?}", region.shape)
                };
                assert!(same(&[[a[0], a[1]], [b[0], b[1]]], &pts), "{a:?} {b:?}");
                assert_eq!((a[2], b[2]), (k as f64, k as f64));
                assert!(near(
                    row["length_mm"].as_f64().unwrap(),
                    said("length"),
                    1e-5
                ));
                assert!(near(reported("Length"), said("length"), 1e-6));
            }
            "RectangleROI" => {
                let Shape::Box2d { slice, min, max } = region.shape else {
                    panic!("{:?}", region.shape)
                };
                assert_eq!(slice as usize, k);
                assert!(same(&[min, max], &[pts[0], pts[3]]), "{min:?} {max:?}");
                assert!(near(row["area_mm2"].as_f64().unwrap(), said("area"), 1e-5));
            }
            "PlanarFreehandROI" => {
                let Shape::Polygon { slice, points } = &region.shape else {
                    panic!("{:?}", region.shape)
                };
                assert_eq!(*slice as usize, k);
                assert!(same(points, &pts), "{points:?}");
                assert!(near(row["area_mm2"].as_f64().unwrap(), said("area"), 1e-5));
            }
            tool @ ("EllipticalROI" | "CircleROI") => {
                // A 32-gon round the curve's centre (an ellipse's axes cross there; a circle is
                // its centre, then a point on it), inside it: its area within 1 % of the curve's.
                let Shape::Polygon { slice, points } = &region.shape else {
                    panic!("{:?}", region.shape)
                };
                assert_eq!(*slice as usize, k);
                let n = points.len() as f64;
                let c = [
                    points.iter().map(|p| p[0]).sum::<f64>() / n,
                    points.iter().map(|p| p[1]).sum::<f64>() / n,
                ];
                let centre = if tool == "EllipticalROI" {
                    [(pts[0][0] + pts[1][0]) / 2.0, (pts[2][1] + pts[3][1]) / 2.0]
                } else {
                    pts[0]
                };
                assert!(same(&[c], &[centre]), "{c:?} {centre:?}");
                let area = row["area_mm2"].as_f64().unwrap();
                assert!(area < said("area") && area > 0.99 * said("area"), "{area}");
            }
            "ArrowAnnotate" => {
                // A point at the arrow's tip (not at its moved label); its text grounds it.
                let Shape::Point { at } = region.shape else {
                    panic!("{:?}", region.shape)
                };
                assert!(
                    same(&[[at[0], at[1]]], &pts[..1]) && at[2] == k as f64,
                    "{at:?}"
                );
                assert!(row.get("reported").is_none(), "{row}");
                continue;
            }
            "Probe" => {
                let Shape::Point { at } = region.shape else {
                    panic!("{:?}", region.shape)
                };
                assert!(same(&[[at[0], at[1]]], &pts) && at[2] == k as f64, "{at:?}");
                // Its "Center" NUM is a placeholder, not kept.
                assert!(row.get("reported").is_none(), "{row}");
                continue;
            }
            "Bidirectional" => {
                // Two rulers, the long and the short axis, each with its own value.
                let mut axes: Vec<(f64, f64)> = doc
                    .regions_of(phrase.id)
                    .map(|id| {
                        let row = stats["regions"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|r| r["region"] == id.full())
                            .unwrap();
                        let values = row["reported"]["values"].as_array().unwrap();
                        assert_eq!(values.len(), 1, "{row}");
                        (
                            row["length_mm"].as_f64().unwrap(),
                            values[0]["value"].as_f64().unwrap(),
                        )
                    })
                    .collect();
                axes.sort_by(|a, b| a.0.total_cmp(&b.0));
                assert_eq!(axes.len(), 2, "{axes:?}");
                for ((measured, reported), said) in axes.iter().zip([said("width"), said("length")])
                {
                    assert!(near(*measured, said, 1e-5) && near(*reported, said, 1e-5));
                }
                continue;
            }
            other => panic!("{other}"),
        }
        for (key, name) in [
            ("mean", "Mean"),
            ("stdDev", "Standard Deviation"),
            ("max", "Maximum"),
        ] {
            if m["stats"].get(key).is_some() {
                assert_eq!(reported(name), said(key), "{label} {name}");
            }
        }
    }
}

/// OHIF's SR adapter (`@cornerstonejs/adapters`, run by Node in `tools/ohif`) re-opens the planar
/// groups as its RectangleROI, PlanarFreehandROI and Probe tools, on the referenced images, at the
/// regions' places in patient space.
#[test]
fn ohif_adapter_reopens_the_planar_groups_as_tools() {
    let Some(data) = common::corpus() else { return };
    let Some(tools) = ohif_tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = drawn_project(&data, dir.path());
    let out = dir.path().join("report.dcm");
    let run = export_sr(&d, &out, "human:alice");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut args = vec![
        tools.join("hydrate.mjs").into_os_string(),
        out.into_os_string(),
    ];
    args.extend(d.image.files.iter().map(|f| f.clone().into_os_string()));
    let o = std::process::Command::new("node")
        .args(&args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(
        v["tools"],
        serde_json::json!({"RectangleROI": 1, "PlanarFreehandROI": 1, "Probe": 1, "Length": 1}),
        "{v}"
    );
    // The one group the adapter passes over is the mask's volumetric group (no tool of its own: OHIF
    // shows it by loading the SEG beside the report).
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{v}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with("Unable to generate tool state"),
        "{v}"
    );
    let rec = &d.image;
    let r = rec.direction;
    let world_from_voxel = voxmark::core::Affine3::from_grid(
        rec.origin_lps_mm,
        [[r[0], r[1], r[2]], [r[3], r[4], r[5]], [r[6], r[7], r[8]]],
        rec.spacing_mm,
    );
    let near = |a: &serde_json::Value, b: [f64; 3]| {
        (0..3).all(|i| (a[i].as_f64().unwrap() - b[i]).abs() < 1e-3)
    };
    let annotation = |tool: &str| {
        v["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["tool"] == tool)
            .unwrap()
            .clone()
    };
    // The box's corners (voxel coordinates, pixel centres at integers) where the adapter put them.
    let rect = annotation("RectangleROI");
    assert_eq!(rect["tracking_uid"], uid(d.box2d));
    assert_eq!(rect["label"], "right lower lobe nodule");
    let corners = [
        [100.25, 120.0],
        [180.0, 120.0],
        [100.25, 200.75],
        [180.0, 200.75],
    ];
    for c in corners {
        let w = world_from_voxel.apply([c[0], c[1], 1.0]);
        assert!(
            rect["points"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| near(p, w)),
            "corner {c:?} (world {w:?}) not among {}",
            rect["points"]
        );
    }
    let probe = annotation("Probe");
    assert!(
        near(
            &probe["points"][0],
            world_from_voxel.apply([256.0, 300.0, 2.0])
        ),
        "{probe}"
    );
    let length = annotation("Length");
    assert_eq!(length["tracking_uid"], uid(d.line));
    for (n, p) in [[30.0, 40.0], [130.5, 90.0]].into_iter().enumerate() {
        let w = world_from_voxel.apply([p[0], p[1], 1.0]);
        assert!(near(&length["points"][n], w), "{p:?} vs {length}");
    }
    let freehand = annotation("PlanarFreehandROI");
    let contour = freehand["contour"].as_array().unwrap();
    for p in [[50.0, 60.0], [90.0, 62.5], [70.0, 110.125]] {
        let w = world_from_voxel.apply([p[0], p[1], 0.0]);
        assert!(
            contour.iter().any(|q| near(q, w)),
            "{p:?} not in {freehand}"
        );
    }
}

/// A report written by highdicom, not by Voxmark (`tools/make_highdicom_sr.py`, on the corpus CT):
/// its polygon, rectangle, ruler and point land on the slices of the images they reference, with
/// the observer as author and the findings as labels; and what `voxmark stats` measures on them
/// equals what the report says, values that script measured with pydicom and numpy (the polygon's
/// Area and mean HU, the ruler's Length).
#[test]
fn a_highdicom_report_lands_and_measures_what_it_says() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ct = data.join("dicom/seg_sr/dcmqi_ct3slice/image");
    let report = dir.path().join("highdicom.dcm");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/make_highdicom_sr.py");
    let Some(expected) =
        common::python_json(&[script.as_os_str(), ct.as_os_str(), report.as_os_str()])
    else {
        return;
    };
    let (project, run) = sr_into_new_project(dir.path(), &ct, &report, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("imported 4 of 4 measurement group(s)"),
        "{}",
        run.stdout
    );
    let (doc, slices) = document_and_slices(&project);
    let slice_of = |uid: &serde_json::Value| {
        slices
            .iter()
            .position(|s| uid == s.instance_uid.as_str())
            .unwrap()
    };
    let groups = expected.as_array().unwrap();
    let pts = |g: &serde_json::Value| -> Vec<[f64; 2]> {
        g["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap() - 0.5, p[1].as_f64().unwrap() - 0.5])
            .collect()
    };
    let find = |kind: &str| {
        doc.regions
            .values()
            .find(|r| r.shape.kind() == kind)
            .unwrap_or_else(|| panic!("no {kind} in {:?}", doc.regions))
    };
    let (poly, rect, line, point) = (find("polygon"), find("box2d"), find("line"), find("point"));
    let mut ring = pts(&groups[0]);
    ring.pop();
    assert_eq!(
        poly.shape,
        Shape::Polygon {
            slice: slice_of(&groups[0]["sop_instance_uid"]) as u32,
            points: ring
        }
    );
    let k1 = slice_of(&groups[1]["sop_instance_uid"]) as u32;
    assert_eq!(
        rect.shape,
        Shape::Box2d {
            slice: k1,
            min: [300.0, 310.0],
            max: [360.0, 350.0]
        }
    );
    let k = f64::from(slice_of(&groups[2]["sop_instance_uid"]) as u32);
    assert_eq!(
        line.shape,
        Shape::Line {
            a: [50.0, 60.0, k],
            b: [150.0, 110.0, k]
        }
    );
    let k = slice_of(&groups[3]["sop_instance_uid"]) as f64;
    assert_eq!(
        point.shape,
        Shape::Point {
            at: [256.0, 300.0, k]
        }
    );
    assert_eq!(poly.author.to_string(), "human:Reader Two");
    let label = |r: &Region| doc.labels[&r.label.unwrap()].name.clone();
    assert_eq!((label(poly), label(rect)), ("Mass".into(), "Lesion".into()));
    // What the report says each region measures, and what Voxmark measures on it.
    let stats = common::voxmark([os("stats"), project.clone().into(), os("--json")]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    let stats: serde_json::Value = serde_json::from_str(&stats.stdout).unwrap();
    let row = |id: Id| {
        stats["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["region"] == id.full())
            .unwrap()
            .clone()
    };
    let said = |g: &serde_json::Value, name: &str| {
        g["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m[0] == name)
            .unwrap()[1]
            .as_f64()
            .unwrap()
    };
    let p_row = row(poly.id);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert!(
        close(
            p_row["area_mm2"].as_f64().unwrap(),
            said(&groups[0], "Area")
        ),
        "{p_row}"
    );
    assert!(
        close(
            p_row["mean"].as_f64().unwrap(),
            said(&groups[0], "Attenuation Coefficient")
        ),
        "{p_row}"
    );
    assert_eq!(p_row["unit"], "HU");
    let l_row = row(line.id);
    assert!(
        close(
            l_row["length_mm"].as_f64().unwrap(),
            said(&groups[2], "Length")
        ),
        "{l_row}"
    );
}
