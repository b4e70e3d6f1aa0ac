//! Grounding import/export/eval through the CLI: the RadFact example imports, evaluates and
//! round-trips; a hand-built case gives hand-computed numbers; bad files name the field at fault.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

mod common;

use std::ffi::OsString;
use std::path::Path;

fn os(s: &str) -> OsString {
    OsString::from(s)
}

/// A project with `n` copies of a corpus chest X-ray (512×512) as images 1..=n.
/// The first phrase of the project's first image (its whole id, from `voxmark ls --json`).
fn first_phrase(project: &Path) -> String {
    let run = common::voxmark([os("ls"), project.into(), os("--json")]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    v["images"][0]["phrase_ids"][0]
        .as_str()
        .unwrap()
        .to_string()
}

fn project_with_images(dir: &Path, data: &Path, n: usize) -> std::path::PathBuf {
    let project = dir.join("g.voxmark");
    assert_eq!(common::voxmark([os("new"), project.clone().into()]).code, 0);
    let mut args = vec![os("add"), project.clone().into()];
    for i in 0..n {
        let f = dir.join(format!("img{i:02}.png"));
        std::fs::copy(data.join("cxr/nih_cxr14/00000001_000.png"), &f).unwrap();
        args.push(f.into());
    }
    let run = common::voxmark(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    project
}

fn normalised(v: &serde_json::Value) -> serde_json::Value {
    // Boxes compare to 1e-9 (pixel ↔ normalised conversion in floating point).
    match v {
        serde_json::Value::Number(n) => {
            serde_json::json!((n.as_f64().unwrap() * 1e9).round() / 1e9)
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(normalised).collect()),
        serde_json::Value::Object(o) => {
            serde_json::Value::Object(o.iter().map(|(k, v)| (k.clone(), normalised(v))).collect())
        }
        other => other.clone(),
    }
}

#[test]
fn radfact_example_imports_evaluates_and_round_trips() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let example = data.join("grounding/radfact_grounded_reporting_examples.json");
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&example).unwrap()).unwrap();
    let n = original.as_array().unwrap().len();
    let authors = [
        os("--truth-author"),
        os("human:radfact-target"),
        os("--pred-author"),
        os("model:radfact@example"),
    ];
    let project = project_with_images(dir.path(), &data, n);
    let ids: Vec<OsString> = common::image_ids(&project).iter().map(|i| os(i)).collect();
    let mut args = vec![
        os("import"),
        project.clone().into(),
        os("--format"),
        os("radfact"),
        example.clone().into(),
        os("--image"),
    ];
    args.extend(ids.iter().cloned());
    args.extend(authors.iter().cloned());
    let run = common::voxmark(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let eval = common::voxmark([
        os("eval"),
        project.clone().into(),
        os("--truth"),
        os("human:radfact-target"),
        os("--pred"),
        os("model:radfact@example"),
        os("--json"),
    ]);
    assert_eq!(eval.code, 0, "{}", eval.stderr);
    let e: serde_json::Value = serde_json::from_str(&eval.stdout).unwrap();
    println!("image level: {}", e["image_level"]["overall"]);
    assert_eq!(e["image_level"]["overall"]["n"], 20);
    assert!(
        e["definitions"]["iou"]
            .as_str()
            .unwrap()
            .contains("|A ∩ B|")
    );

    // export → import into a fresh project → export: identical, and equal to the original.
    let out1 = dir.path().join("out1.json");
    let mut args = vec![
        os("export"),
        project.clone().into(),
        os("--format"),
        os("radfact"),
        os("--out"),
        out1.clone().into(),
    ];
    args.extend(authors.iter().cloned());
    assert_eq!(common::voxmark(&args).code, 0);
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out1).unwrap()).unwrap();
    // What RadFact defines (sentences and boxes) must come back exactly; extra keys such as
    // `example_id` are not kept.
    let core = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                normalised(
                    &serde_json::json!({"prediction": e["prediction"], "target": e["target"]}),
                )
            })
            .collect()
    };
    let (a, b) = (core(&exported), core(&original));
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(x == y, "example {i} differs after export:\n{x}\nvs\n{y}");
    }

    let dir2 = tempfile::tempdir().unwrap();
    let project2 = project_with_images(dir2.path(), &data, n);
    let mut args = vec![
        os("import"),
        project2.clone().into(),
        os("--format"),
        os("radfact"),
        out1.clone().into(),
        os("--image"),
    ];
    args.extend(common::image_ids(&project2).iter().map(|i| os(i)));
    args.extend(authors.iter().cloned());
    assert_eq!(common::voxmark(&args).code, 0);
    let out2 = dir.path().join("out2.json");
    let mut args = vec![
        os("export"),
        project2.clone().into(),
        os("--format"),
        os("radfact"),
        os("--out"),
        out2.clone().into(),
    ];
    args.extend(authors.iter().cloned());
    assert_eq!(common::voxmark(&args).code, 0);
    assert_eq!(
        std::fs::read_to_string(&out1).unwrap(),
        std::fs::read_to_string(&out2).unwrap()
    );
}

#[test]
fn eval_gives_hand_computed_numbers() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = project_with_images(dir.path(), &data, 1);
    // One report: the reference box covers x 0.25..0.5 of the width, the model's 0.375..0.625, same rows.
    // On 512 pixels: reference columns 128..255 (128), model 192..319 (128), shared 192..255 (64):
    // IoU = 64 / 192 = 1/3 for every row, so 1/3 overall.
    let truth = dir.path().join("truth.json");
    std::fs::write(&truth, r#"[{"text": "Left basal opacity.", "boxes": [{"x_min": 0.25, "y_min": 0.5, "x_max": 0.5, "y_max": 0.75}]}]"#).unwrap();
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("radfact"),
        truth.into(),
        os("--image"),
        os(&common::image_ids(&project)[0]),
        os("--truth-author"),
        os("human:a"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pred = dir.path().join("pred.json");
    std::fs::write(&pred, r#"[{"text": "Left basal opacity.", "boxes": [{"x_min": 0.375, "y_min": 0.5, "x_max": 0.625, "y_max": 0.75}]}]"#).unwrap();
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("radfact"),
        pred.into(),
        os("--image"),
        os(&common::image_ids(&project)[0]),
        os("--truth-author"),
        os("model:m@1"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let eval = common::voxmark([
        os("eval"),
        project.clone().into(),
        os("--truth"),
        os("human:a"),
        os("--pred"),
        os("model:m@1"),
        os("--json"),
    ]);
    let e: serde_json::Value = serde_json::from_str(&eval.stdout).unwrap();
    let iou = e["image_level"]["overall"]["mean_iou"].as_f64().unwrap();
    assert!((iou - 1.0 / 3.0).abs() < 1e-12, "{iou}");
    assert_eq!(e["image_level"]["overall"]["acc_at_iou_0_5"], 0.0);
}

#[test]
fn bad_radfact_files_name_the_field_and_change_nothing() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = project_with_images(dir.path(), &data, 1);
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"text": "x", "boxes": [{"x_min": 0.1, "y_min": 0.2, "x_max": 1.7, "y_max": 0.3}]}]"#,
    )
    .unwrap();
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("radfact"),
        bad.into(),
        os("--image"),
        os(&common::image_ids(&project)[0]),
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("[0].boxes[0].x_max") && run.stderr.contains("bad.json"),
        "{}",
        run.stderr
    );
    let example = data.join("grounding/radfact_grounded_reporting_examples.json");
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("radfact"),
        example.into(),
        os("--image"),
        os(&common::image_ids(&project)[0]),
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("holds 20 report(s)"), "{}", run.stderr);
    let ls = common::voxmark([os("ls"), project.clone().into(), os("--json")]);
    let v: serde_json::Value = serde_json::from_str(&ls.stdout).unwrap();
    assert_eq!(
        v["images"][0]["phrases"], 0,
        "a failed import left rows behind"
    );
}

#[test]
fn ms_cxr_csv_imports_by_file_name_and_round_trips() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("m.voxmark");
    assert_eq!(common::voxmark([os("new"), project.clone().into()]).code, 0);
    let images: Vec<std::path::PathBuf> = ["00000001_000.png", "00027426_000.png"]
        .iter()
        .map(|n| data.join("cxr/nih_cxr14").join(n))
        .collect();
    let mut args = vec![os("add"), project.clone().into()];
    args.extend(images.iter().map(|p| p.clone().into_os_string()));
    assert_eq!(common::voxmark(&args).code, 0);
    // Boxes given in the 1024-pixel frame of the original images (ours are 512): scaled on import.
    let csv = dir.path().join("ms_cxr.csv");
    std::fs::write(
        &csv,
        "dicom_id,category_name,label_text,path,x,y,w,h,image_width,image_height\n\
         00000001_000,Cardiomegaly,\"enlarged heart, \"\"globular\"\"\",files/p10/00000001_000.png,300,400,420,300,1024,1024\n\
         00000001_000,Pneumonia,left lower lobe opacity,files/p10/00000001_000.png,560,600,200,180,1024,1024\n\
         00000001_000,Pneumonia,left lower lobe opacity,files/p10/00000001_000.png,600,780,100,60,1024,1024\n\
         x,Pneumothorax,apical pneumothorax,files/p99/00027426_000.png,100,80,150,200,1024,1024\n\
         not_here,Edema,edema,files/p11/not_here.png,1,1,10,10,1024,1024\n",
    )
    .unwrap();
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("ms-cxr"),
        csv.into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("imported 4 boxes as 3 phrases; 1 row(s) of 1 image(s) not in the project"),
        "{}",
        run.stdout
    );
    let out1 = dir.path().join("out1.csv");
    assert_eq!(
        common::voxmark([
            os("export"),
            project.clone().into(),
            os("--format"),
            os("ms-cxr"),
            os("--out"),
            out1.clone().into()
        ])
        .code,
        0
    );
    let text = std::fs::read_to_string(&out1).unwrap();
    // 300×0.5 = 150 on the 512-pixel image; the quoted phrase survives.
    assert!(
        text.contains("\"enlarged heart, \"\"globular\"\"\"")
            && text.contains(",150.0,200.0,210.0,150.0,512,512"),
        "{text}"
    );
    // Paths are relative to the folder the images share, never this machine's layout.
    assert!(
        text.contains(",00000001_000.png,") && !text.contains(&*data.to_string_lossy()),
        "{text}"
    );
    let abs = dir.path().join("abs.csv");
    let run = common::voxmark([
        os("export"),
        project.clone().into(),
        os("--format"),
        os("ms-cxr"),
        os("--out"),
        abs.clone().into(),
        os("--absolute-paths"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        std::fs::read_to_string(&abs)
            .unwrap()
            .contains(&*images[0].to_string_lossy())
    );
    let run = common::voxmark([
        os("export"),
        project.clone().into(),
        os("--format"),
        os("ms-cxr"),
        os("--out"),
        abs.into(),
        os("--root"),
        dir.path().into(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("is not under --root"), "{}", run.stderr);
    // Import the export into a fresh project and export again: identical.
    let project2 = dir.path().join("m2.voxmark");
    assert_eq!(
        common::voxmark([os("new"), project2.clone().into()]).code,
        0
    );
    let mut args = vec![os("add"), project2.clone().into()];
    args.extend(images.iter().map(|p| p.clone().into_os_string()));
    assert_eq!(common::voxmark(&args).code, 0);
    assert_eq!(
        common::voxmark([
            os("import"),
            project2.clone().into(),
            os("--format"),
            os("ms-cxr"),
            out1.clone().into()
        ])
        .code,
        0
    );
    let out2 = dir.path().join("out2.csv");
    assert_eq!(
        common::voxmark([
            os("export"),
            project2.clone().into(),
            os("--format"),
            os("ms-cxr"),
            os("--out"),
            out2.clone().into()
        ])
        .code,
        0
    );
    assert_eq!(text, std::fs::read_to_string(&out2).unwrap());
    // MS-CXR's COCO-style JSON: pycocotools reads it into the rows of the CSV (as MS-CXR's own
    // conversion does), and it imports into a fresh project that exports the same CSV.
    let ms_json = dir.path().join("out.json");
    let run = common::voxmark([
        os("export"),
        project.clone().into(),
        os("--format"),
        os("ms-cxr-json"),
        os("--out"),
        ms_json.clone().into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/check_ms_cxr_json.py");
    if let Some(v) = common::python_json(&[script.as_os_str(), ms_json.as_os_str()]) {
        let mut csv_rows: Vec<String> = text.lines().skip(1).map(str::to_owned).collect();
        let mut json_rows: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut w = csv::WriterBuilder::new().from_writer(vec![]);
                let f = |k: &str| format!("{:?}", r[k].as_f64().unwrap());
                w.write_record([
                    r["dicom_id"].as_str().unwrap().to_owned(),
                    r["category_name"].as_str().unwrap().to_owned(),
                    r["label_text"].as_str().unwrap().to_owned(),
                    r["path"].as_str().unwrap().to_owned(),
                    f("x"),
                    f("y"),
                    f("w"),
                    f("h"),
                    r["image_width"].to_string(),
                    r["image_height"].to_string(),
                ])
                .unwrap();
                String::from_utf8(w.into_inner().unwrap())
                    .unwrap()
                    .trim_end()
                    .to_owned()
            })
            .collect();
        csv_rows.sort();
        json_rows.sort();
        assert_eq!(csv_rows, json_rows);
    }
    let project3 = dir.path().join("m3.voxmark");
    assert_eq!(
        common::voxmark([os("new"), project3.clone().into()]).code,
        0
    );
    let mut args = vec![os("add"), project3.clone().into()];
    args.extend(images.iter().map(|p| p.clone().into_os_string()));
    assert_eq!(common::voxmark(&args).code, 0);
    let run = common::voxmark([
        os("import"),
        project3.clone().into(),
        os("--format"),
        os("ms-cxr-json"),
        ms_json.into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out3 = dir.path().join("out3.csv");
    assert_eq!(
        common::voxmark([
            os("export"),
            project3.into(),
            os("--format"),
            os("ms-cxr"),
            os("--out"),
            out3.clone().into()
        ])
        .code,
        0
    );
    assert_eq!(text, std::fs::read_to_string(&out3).unwrap());
    // COCO grounding export of images without a report: the caption is built from the phrases
    // (joined with ". "), tokens_positive points into it, and the command says so.
    let coco_out = dir.path().join("m.coco.json");
    let run = common::voxmark([
        os("export"),
        project.clone().into(),
        os("--format"),
        os("coco"),
        os("--out"),
        coco_out.clone().into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("wrote 2 image(s) and 4 box annotation(s)")
            && run.stdout.contains("2 image(s) had no report"),
        "{}",
        run.stdout
    );
    let coco: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&coco_out).unwrap()).unwrap();
    let captions: Vec<&str> = coco["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["caption"].as_str().unwrap())
        .collect();
    assert!(
        captions.contains(&"enlarged heart, \"globular\". left lower lobe opacity.")
            || captions.contains(&"left lower lobe opacity. enlarged heart, \"globular\"."),
        "{captions:?}"
    );
    for a in coco["annotations"].as_array().unwrap() {
        let img = &coco["images"][a["image_id"].as_u64().unwrap() as usize - 1];
        let caption: Vec<char> = img["caption"].as_str().unwrap().chars().collect();
        let (s, e) = (
            a["tokens_positive"][0][0].as_u64().unwrap() as usize,
            a["tokens_positive"][0][1].as_u64().unwrap() as usize,
        );
        assert_eq!(
            caption[s..e].iter().collect::<String>(),
            a["label_text"].as_str().unwrap()
        );
    }
    // Nothing to export (no report, no phrase): exit 1, and no empty file.
    let empty = dir.path().join("e.voxmark");
    assert_eq!(common::voxmark([os("new"), empty.clone().into()]).code, 0);
    assert_eq!(
        common::voxmark([os("add"), empty.clone().into(), images[0].clone().into()]).code,
        0
    );
    let none = dir.path().join("none.json");
    let run = common::voxmark([
        os("export"),
        empty.into(),
        os("--format"),
        os("coco"),
        os("--out"),
        none.clone().into(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("nothing to export"), "{}", run.stderr);
    assert!(!none.exists());
    // A bad number names its line and column; nothing is imported.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "dicom_id,category_name,label_text,path,x,y,w,h,image_width,image_height\n00000001_000,A,b,p.png,1,2,3,4,1024,1024\n00000001_000,A,b,p.png,1,2,three,4,1024,1024\n").unwrap();
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("ms-cxr"),
        bad.into(),
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("line 3, column w") && run.stderr.contains("bad.csv"),
        "{}",
        run.stderr
    );
}

#[test]
fn dataset_box_files_import_and_count_rows_without_images() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("d.voxmark");
    let cxr = data.join("cxr");
    assert_eq!(common::voxmark([os("new"), project.clone().into()]).code, 0);
    let run = common::voxmark([
        os("add"),
        project.clone().into(),
        cxr.join("tbx11k/imgs").into(),
        cxr.join("nih_cxr14").into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // TBX11K (COCO boxes): all three annotations find their images.
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("coco"),
        cxr.join("tbx11k/annotations/json/TBX11K_train.json").into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("imported 3 boxes as 2 phrases; 0 row(s)"),
        "{}",
        run.stdout
    );
    // NIH and VinDr: none of their images are in the corpus; every row is counted, nothing fails.
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("nih-bbox"),
        cxr.join("annotations/nih_BBox_List_2017.csv.gz").into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("imported 0 boxes as 0 phrases; 984 row(s)"),
        "{}",
        run.stdout
    );
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("vindr"),
        cxr.join("annotations/vinbigdata-train.csv.gz").into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("imported 0 boxes as 0 phrases; 67914 row(s)"),
        "{}",
        run.stdout
    );
    // The TBX11K box of tb0005 (x 381.83…, w 40.24…) is on its 512-pixel image unscaled.
    let ls = common::voxmark([os("ls"), project.clone().into(), os("--json")]);
    let v: serde_json::Value = serde_json::from_str(&ls.stdout).unwrap();
    let total: i64 = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["regions"]["accepted"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 3);
    let check = common::voxmark([os("check"), project.into()]);
    assert_eq!(check.code, 0, "{}", check.stdout);
}

#[test]
fn coco_grounding_export_reads_in_pycocotools_and_round_trips() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let n = 20;
    let project = project_with_images(dir.path(), &data, n);
    let example = data.join("grounding/radfact_grounded_reporting_examples.json");
    let mut args = vec![
        os("import"),
        project.clone().into(),
        os("--format"),
        os("radfact"),
        example.into(),
        os("--image"),
    ];
    args.extend(common::image_ids(&project).iter().map(|i| os(i)));
    assert_eq!(common::voxmark(&args).code, 0);
    let out1 = dir.path().join("coco1.json");
    let run = common::voxmark([
        os("export"),
        project.clone().into(),
        os("--format"),
        os("coco"),
        os("--out"),
        out1.clone().into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let coco: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out1).unwrap()).unwrap();
    assert_eq!(coco["images"].as_array().unwrap().len(), n);
    let anns = coco["annotations"].as_array().unwrap();
    assert_eq!(
        anns.len(),
        52,
        "every reference box (all reference sentences are report spans)"
    );
    // tokens_positive picks the phrase out of the caption, in characters.
    for a in anns {
        let img = coco["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == a["image_id"])
            .unwrap();
        let caption: Vec<char> = img["caption"].as_str().unwrap().chars().collect();
        let (s, e) = (
            a["tokens_positive"][0][0].as_u64().unwrap() as usize,
            a["tokens_positive"][0][1].as_u64().unwrap() as usize,
        );
        assert_eq!(
            caption[s..e].iter().collect::<String>(),
            a["phrase"].as_str().unwrap()
        );
    }
    // Import into a fresh project (reports come from the captions) and export again: identical.
    let dir2 = tempfile::tempdir().unwrap();
    let project2 = project_with_images(dir2.path(), &data, n);
    let run = common::voxmark([
        os("import"),
        project2.clone().into(),
        os("--format"),
        os("coco"),
        out1.clone().into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out2 = dir.path().join("coco2.json");
    assert_eq!(
        common::voxmark([
            os("export"),
            project2.clone().into(),
            os("--format"),
            os("coco"),
            os("--out"),
            out2.clone().into()
        ])
        .code,
        0
    );
    assert_eq!(
        std::fs::read_to_string(&out1).unwrap(),
        std::fs::read_to_string(&out2).unwrap()
    );
    // pycocotools reads it (CI installs it and sets VOXMARK_REQUIRE_PYTHON_REFS=1).
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/check_coco.py");
    if let Some(summary) = common::python_json(&[script.as_os_str(), out1.as_os_str()]) {
        assert_eq!(summary["annotations"], 52, "{summary}");
        assert_eq!(summary["problems"], serde_json::json!([]), "{summary}");
    }
}

#[test]
fn nifti_label_maps_import_onto_the_ct_and_export_with_its_geometry() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("seg.voxmark");
    assert_eq!(common::voxmark([os("new"), project.clone().into()]).code, 0);
    let ct = data.join("dicom/series/ct_abdomen_20sl_j2kr");
    assert_eq!(
        common::voxmark([os("add"), project.clone().into(), ct.clone().into()]).code,
        0
    );
    // TotalSegmentator stores the CT's grid with the y axis flipped: it lands voxel for voxel.
    let labels = data.join("nifti/totalseg/example_seg_dicom.nii.gz");
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("nifti-labels"),
        labels.clone().into(),
        os("--image"),
        os(&common::image_ids(&project)[0]),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("imported 31 labels"), "{}", run.stdout);
    let out = dir.path().join("labels.nii.gz");
    let run = common::voxmark([
        os("export"),
        project.clone().into(),
        os("--format"),
        os("nifti-labels"),
        os("--image"),
        os(&common::image_ids(&project)[0]),
        os("--out"),
        out.clone().into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // nibabel: the export has the CT's affine (SimpleITK's geometry from the reference file) and the
    // imported labels' voxels.
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/corpus.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let g = reference["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "dicom/series/ct_abdomen_20sl_j2kr")
        .unwrap()["volumes"][0]
        .clone();
    let geometry = serde_json::json!({"spacing_mm": g["spacing_mm"], "origin_lps_mm": g["origin_lps_mm"], "direction": g["direction"]}).to_string();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/check_label_export.py");
    if let Some(v) = common::python_json(&[
        script.as_os_str(),
        labels.as_os_str(),
        out.as_os_str(),
        std::ffi::OsStr::new(&geometry),
    ]) {
        assert_eq!(v["voxels_equal"], true, "{v}");
        assert!(v["affine_max_error_mm"].as_f64().unwrap() < 1e-3, "{v}");
        assert_eq!(v["labels"].as_array().unwrap().len(), 31, "{v}");
    }
    // The same map as NRRD and MetaImage, attached and detached: SimpleITK reads the CT's geometry
    // and the NIfTI export's voxels from each.
    let itk_outs: Vec<std::path::PathBuf> = ["nrrd", "nhdr", "mha", "mhd"]
        .iter()
        .map(|ext| dir.path().join(format!("labels.{ext}")))
        .collect();
    for f in &itk_outs {
        let run = common::voxmark([
            os("export"),
            project.clone().into(),
            os("--format"),
            os("nifti-labels"),
            os("--image"),
            os(&common::image_ids(&project)[0]),
            os("--out"),
            f.clone().into(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert!(dir.path().join("labels.raw.gz").is_file() && dir.path().join("labels.zraw").is_file());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/check_itk_labels.py");
    let mut args = vec![
        script.as_os_str(),
        std::ffi::OsStr::new(&geometry),
        out.as_os_str(),
    ];
    args.extend(itk_outs.iter().map(|p| p.as_os_str()));
    if let Some(v) = common::python_json(&args) {
        for f in &itk_outs {
            let r = &v[f.to_str().unwrap()];
            assert_eq!(r["voxels_equal"], true, "{v}");
            assert!(r["geometry_max_error"].as_f64().unwrap() < 1e-6, "{v}");
        }
    }
    // Round trip: the export imports into a fresh project and exports byte-identically.
    let project2 = dir.path().join("seg2.voxmark");
    assert_eq!(
        common::voxmark([os("new"), project2.clone().into()]).code,
        0
    );
    assert_eq!(
        common::voxmark([os("add"), project2.clone().into(), ct.clone().into()]).code,
        0
    );
    let run = common::voxmark([
        os("import"),
        project2.clone().into(),
        os("--format"),
        os("nifti-labels"),
        out.clone().into(),
        os("--image"),
        os(&common::image_ids(&project2)[0]),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out2 = dir.path().join("labels2.nii.gz");
    assert_eq!(
        common::voxmark([
            os("export"),
            project2.clone().into(),
            os("--format"),
            os("nifti-labels"),
            os("--image"),
            os(&common::image_ids(&project2)[0]),
            os("--out"),
            out2.clone().into()
        ])
        .code,
        0
    );
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
    // And a detached NRRD header imports as its NIfTI twin does.
    let project3 = dir.path().join("seg3.voxmark");
    assert_eq!(
        common::voxmark([os("new"), project3.clone().into()]).code,
        0
    );
    assert_eq!(
        common::voxmark([os("add"), project3.clone().into(), ct.clone().into()]).code,
        0
    );
    let id3 = common::image_ids(&project3)[0].clone();
    let run = common::voxmark([
        os("import"),
        project3.clone().into(),
        os("--format"),
        os("nifti-labels"),
        itk_outs[1].clone().into(),
        os("--image"),
        os(&id3),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out3 = dir.path().join("labels3.nii.gz");
    let run = common::voxmark([
        os("export"),
        project3.into(),
        os("--format"),
        os("nifti-labels"),
        os("--image"),
        os(&id3),
        os("--out"),
        out3.clone().into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out3).unwrap());
    // A label map of another grid is refused with a clear error.
    let other = data.join("nifti/totalseg/example_seg_mr.nii.gz");
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("nifti-labels"),
        other.into(),
        os("--image"),
        os(&common::image_ids(&project)[0]),
    ]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!(
            "does not overlap image {}",
            common::handle(&common::image_ids(&project)[0])
        )) && run.stderr.contains("example_seg_mr.nii.gz"),
        "{}",
        run.stderr
    );
}

#[test]
fn png_masks_of_a_2d_image_round_trip() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = project_with_images(dir.path(), &data, 1);
    // A 512×512 mask with two labels, written as an 8-bit PNG.
    let mut m = image::GrayImage::new(512, 512);
    for y in 100..200 {
        for x in 50..120 {
            m.put_pixel(x, y, image::Luma([3]));
        }
    }
    m.put_pixel(400, 400, image::Luma([9]));
    let mask = dir.path().join("mask.png");
    m.save(&mask).unwrap();
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("png-mask"),
        mask.clone().into(),
        os("--image"),
        os(&common::image_ids(&project)[0]),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("imported 2 labels"), "{}", run.stdout);
    let out = dir.path().join("out.png");
    let run = common::voxmark([
        os("export"),
        project.clone().into(),
        os("--format"),
        os("png-mask"),
        os("--image"),
        os(&common::image_ids(&project)[0]),
        os("--out"),
        out.clone().into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let back = image::open(&out).unwrap().to_luma8();
    assert_eq!(
        back.as_raw(),
        m.as_raw(),
        "exported mask differs from the imported one"
    );
    // A mask of another size is refused, naming both sizes.
    let small = dir.path().join("small.png");
    image::GrayImage::new(64, 64).save(&small).unwrap();
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("png-mask"),
        small.into(),
        os("--image"),
        os(&common::image_ids(&project)[0]),
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("64×64") && run.stderr.contains("512×512×1"),
        "{}",
        run.stderr
    );
}

#[test]
fn heatmaps_import_and_eval_gives_hand_computed_cnr() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = project_with_images(dir.path(), &data, 1);
    // Reference box: pixel columns 128..=255, rows 256..=383 of the 512² image (phrase 1).
    let truth = dir.path().join("truth.json");
    std::fs::write(&truth, r#"[{"text": "Left basal opacity.", "boxes": [{"x_min": 0.25, "y_min": 0.5, "x_max": 0.5, "y_max": 0.75}]}]"#).unwrap();
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("radfact"),
        truth.into(),
        os("--image"),
        os(&common::image_ids(&project)[0]),
        os("--truth-author"),
        os("human:a"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // A 2×2 heatmap: each cell covers a 256² quarter; the reference box lies inside the lower-left one.
    let heat = dir.path().join("heat.png");
    image::GrayImage::from_raw(2, 2, vec![10, 20, 200, 30])
        .unwrap()
        .save(&heat)
        .unwrap();
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("heatmap"),
        heat.into(),
        os("--image"),
        os(&common::image_ids(&project)[0]),
        os("--phrase"),
        os(&first_phrase(&project)),
        os("--pred-author"),
        os("model:g@1"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let eval = common::voxmark([
        os("eval"),
        project.clone().into(),
        os("--truth"),
        os("human:a"),
        os("--pred"),
        os("model:g@1"),
        os("--json"),
    ]);
    assert_eq!(eval.code, 0, "{}", eval.stderr);
    let e: serde_json::Value = serde_json::from_str(&eval.stdout).unwrap();
    // Inside: 128·128 pixels of 200 (σ² 0). Outside: 256²−128² of 200, and 256² each of 10, 20, 30.
    let q = 65536.0;
    let a = q - 16384.0;
    let n_out = a + 3.0 * q;
    let mean_out = (a * 200.0 + q * (10.0 + 20.0 + 30.0)) / n_out;
    let var_out = (a * 200f64.powi(2) + q * (100.0 + 400.0 + 900.0)) / n_out - mean_out * mean_out;
    let expected = (200.0 - mean_out).abs() / var_out.sqrt();
    let cnr = e["heatmaps"]["mean_cnr"].as_f64().unwrap();
    assert!((cnr - expected).abs() < 1e-9, "CNR {cnr} vs {expected}");
    // The first maximum in row order is at column 0 of row 256, outside the box: a miss.
    assert_eq!(e["heatmaps"]["pointing_game"], 0.0);
}

#[test]
fn ms_cxr_coco_style_json_imports_label_text() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = project_with_images(dir.path(), &data, 1);
    // MS-CXR's JSON: COCO boxes with the phrase as `label_text`, in a 1024² frame (scaled to 512²).
    let json = dir.path().join("ms_cxr.json");
    std::fs::write(
        &json,
        r#"{"images": [{"id": 7, "file_name": "img00.png", "width": 1024, "height": 1024}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 2, "bbox": [200, 300, 400, 200], "area": 80000, "iscrowd": 0,
                             "label_text": "right lower lobe consolidation"}],
            "categories": [{"id": 2, "name": "Pneumonia"}]}"#,
    )
    .unwrap();
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("coco"),
        json.into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("imported 1 boxes as 1 phrases"),
        "{}",
        run.stdout
    );
    let out = dir.path().join("out.csv");
    assert_eq!(
        common::voxmark([
            os("export"),
            project.clone().into(),
            os("--format"),
            os("ms-cxr"),
            os("--out"),
            out.clone().into()
        ])
        .code,
        0
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains(",Pneumonia,right lower lobe consolidation,")
            && text.contains(",100.0,150.0,200.0,100.0,512,512"),
        "{text}"
    );
}

/// `voxmark export PROJECT --format FORMAT --image 1 --out OUT [extra]`.
fn export_one(project: &Path, format: &str, out: &Path, extra: &[&str]) -> common::Run {
    let mut args = vec![
        os("export"),
        project.into(),
        os("--format"),
        os(format),
        os("--image"),
        os(&common::image_ids(project)[0]),
        os("--out"),
        out.into(),
    ];
    args.extend(extra.iter().map(|a| os(a)));
    common::voxmark(args)
}

#[test]
fn dicom_seg_exports_labelmap_binary_and_fractional_that_highdicom_reads_back() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("seg.voxmark");
    let ct = data.join("dicom/series/ct_abdomen_20sl_j2kr");
    assert_eq!(common::voxmark([os("new"), project.clone().into()]).code, 0);
    assert_eq!(
        common::voxmark([os("add"), project.clone().into(), ct.clone().into()]).code,
        0
    );
    let import = |file: &Path, format: &str, extra: &[&str]| {
        let mut args = vec![
            os("import"),
            project.clone().into(),
            os("--format"),
            os(format),
            file.into(),
            os("--image"),
            os(&common::image_ids(&project)[0]),
        ];
        args.extend(extra.iter().map(|a| os(a)));
        let run = common::voxmark(args);
        assert_eq!(run.code, 0, "{}", run.stderr);
    };
    // TotalSegmentator's 31 organs do not overlap: LABELMAP (BINARY with --seg-type binary).
    import(
        &data.join("nifti/totalseg/example_seg_dicom.nii.gz"),
        "nifti-labels",
        &[],
    );
    let organs = dir.path().join("organs.nii.gz");
    assert_eq!(export_one(&project, "nifti-labels", &organs, &[]).code, 0);
    let labelmap = dir.path().join("labelmap.dcm");
    let run = export_one(
        &project,
        "dicom-seg",
        &labelmap,
        &["--seg-type", "labelmap"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("LABELMAP DICOM SEG: 31 segment(s), 20 frame(s), 20 source instance(s)"),
        "{}",
        run.stdout
    );
    // This corpus series was anonymised without series and study UIDs: the export says what it made.
    assert!(
        run.stderr.contains("no SeriesInstanceUID"),
        "{}",
        run.stderr
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/check_seg.py");
    let check = |seg: &Path, kind: &str, expected: &[&Path]| {
        let mut args = vec![
            script.as_os_str(),
            seg.as_os_str(),
            ct.as_os_str(),
            kind.as_ref(),
        ];
        args.extend(expected.iter().map(|p| p.as_os_str()));
        common::python_json(&args)
    };
    if let Some(v) = check(&labelmap, "LABELMAP", &[&organs]) {
        assert_eq!(v["segments_equal"], 31, "{v}");
        assert_eq!(v["references_in_source"], true, "{v}");
        assert!(v["position_max_error_mm"].as_f64().unwrap() < 1e-3, "{v}");
    }
    // BINARY on request, which every SEG reader knows.
    let organs_binary = dir.path().join("organs-binary.dcm");
    let run = export_one(
        &project,
        "dicom-seg",
        &organs_binary,
        &["--seg-type", "binary"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("BINARY DICOM SEG: 31 segment(s), 520 frame(s), 20 source instance(s)"),
        "{}",
        run.stdout
    );
    // (What it holds is checked below, where the same organs come with an overlapping lesion.)

    // A lesion over part of the liver's slices overlaps it: BINARY, 32 segments.
    let size = [512usize, 512, 20];
    let mut lesion = vec![0u8; size.iter().product()];
    for k in 8..13 {
        for j in 200..260 {
            for i in 120..200 {
                lesion[i + 512 * (j + 512 * k)] = 1;
            }
        }
    }
    let rec = voxmark::store::Project::open(&project)
        .unwrap()
        .images()
        .unwrap()[0]
        .clone();
    let d = rec.direction;
    let lesion_map = dir.path().join("lesion.nii.gz");
    voxmark::io::nifti::write_labels(
        &lesion_map,
        size,
        rec.spacing_mm,
        rec.origin_lps_mm,
        [[d[0], d[1], d[2]], [d[3], d[4], d[5]], [d[6], d[7], d[8]]],
        voxmark::io::nifti::LabelValues::U8(&lesion),
        "lesion",
    )
    .unwrap();
    std::fs::write(
        format!("{}.labels.json", lesion_map.display()),
        r#"{"1": {"name": "lesion", "color": [255, 0, 0, 255]}}"#,
    )
    .unwrap();
    import(&lesion_map, "nifti-labels", &[]);
    // Two labels in one voxel cannot be a LABELMAP: refused by name, nothing written.
    let refused = dir.path().join("refused.dcm");
    let run = export_one(&project, "dicom-seg", &refused, &["--seg-type", "labelmap"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("share voxels"), "{}", run.stderr);
    assert!(!refused.exists());
    let binary = dir.path().join("binary.dcm");
    let run = export_one(&project, "dicom-seg", &binary, &["--deidentify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("BINARY DICOM SEG: 32 segment(s)"),
        "{}",
        run.stdout
    );
    if let Some(v) = check(&binary, "BINARY", &[&organs, &lesion_map]) {
        assert_eq!(v["segments_equal"], 32, "{v}");
    }
    let obj = dicom_object::open_file(&binary).unwrap();
    let text = |tag| {
        obj.element(tag)
            .map(|e| e.to_str().unwrap().trim().to_owned())
            .unwrap_or_default()
    };
    use dicom_dictionary_std::tags;
    assert_eq!(text(tags::PATIENT_IDENTITY_REMOVED), "YES");
    assert_eq!(text(tags::PATIENT_NAME), "");
    assert_eq!(text(tags::CONTENT_CREATOR_NAME), "");

    // A heatmap (4×4, values 0..255 in steps of 17) on slice 10: FRACTIONAL, 255 = the map's maximum.
    let mut png = image::GrayImage::new(4, 4);
    for y in 0..4u32 {
        for x in 0..4u32 {
            png.put_pixel(x, y, image::Luma([((y * 4 + x) * 17) as u8]));
        }
    }
    let heat = dir.path().join("heat.png");
    png.save(&heat).unwrap();
    import(
        &heat,
        "heatmap",
        &["--slice", "10", "--pred-author", "model:toy@1"],
    );
    let fractional = dir.path().join("heat.dcm");
    let run = export_one(&project, "dicom-seg-heatmap", &fractional, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("FRACTIONAL DICOM SEG: 1 segment(s), 1 frame(s)"),
        "{}",
        run.stdout
    );
    // What it should hold, computed here: each map pixel covers 128×128 image pixels.
    let mut want = vec![0f32; size.iter().product()];
    for j in 0..512 {
        for i in 0..512 {
            want[i + 512 * (j + 512 * 10)] = ((j / 128) * 4 + i / 128) as f32 / 15.0;
        }
    }
    let want_map = dir.path().join("heat-fractions.nii.gz");
    let affine = {
        let (s, o) = (rec.spacing_mm, rec.origin_lps_mm);
        // RAS = diag(-1, -1, 1) · LPS.
        let mut a = [[0f64; 4]; 4];
        for r in 0..3 {
            let sign = if r < 2 { -1.0 } else { 1.0 };
            for c in 0..3 {
                a[r][c] = sign * d[3 * r + c] * s[c];
            }
            a[r][3] = sign * o[r];
        }
        a[3][3] = 1.0;
        a
    };
    write_f32_nifti(&want_map, size, affine, &want);
    if let Some(v) = check(&fractional, "FRACTIONAL", &[&want_map]) {
        assert_eq!(v["segments_equal"], 1, "{v}");
    }
    // dciodvfy finds no errors in the LABELMAP, BINARY and FRACTIONAL SEGs. (Debian's dicom3tools,
    // of 2022, predates the Label Map Segmentation IOD of 2024 and answers "Information Object Not
    // found" for a LABELMAP: that is a skip, unless CI's newer dciodvfy is named by
    // VOXMARK_DCIODVFY, which must know it.)
    for f in [&labelmap, &binary, &fractional] {
        let Some(errors) = common::dciodvfy_errors(f) else {
            continue;
        };
        if f == &labelmap
            && errors
                .iter()
                .any(|e| e.contains("Information Object Not found"))
            && std::env::var_os("VOXMARK_DCIODVFY").is_none()
        {
            eprintln!("skipped dciodvfy on the LABELMAP: this dciodvfy predates the Label Map IOD");
            continue;
        }
        assert!(errors.is_empty(), "dciodvfy {}: {errors:#?}", f.display());
    }
    // Non-DICOM images and empty images are refused by name.
    let run = export_one(
        &project,
        "dicom-seg",
        &dir.path().join("x.dcm"),
        &["--image", "ffff0000"],
    );
    assert_ne!(run.code, 0);
    let run = common::voxmark([
        os("export"),
        project.clone().into(),
        os("--format"),
        os("ms-cxr"),
        os("--deidentify"),
        os("--out"),
        dir.path().join("x.csv").into(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("--deidentify is for DICOM SEG"),
        "{}",
        run.stderr
    );
}

/// A float32 NIfTI-1 (`.nii.gz`) with this sform, for the Python checks.
fn write_f32_nifti(path: &Path, size: [usize; 3], affine: [[f64; 4]; 4], values: &[f32]) {
    use std::io::Write;
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    let dims = [
        3i16,
        size[0] as i16,
        size[1] as i16,
        size[2] as i16,
        1,
        1,
        1,
        1,
    ];
    for (n, v) in dims.iter().enumerate() {
        h[40 + 2 * n..42 + 2 * n].copy_from_slice(&v.to_le_bytes());
    }
    h[70..72].copy_from_slice(&16i16.to_le_bytes()); // FLOAT32
    h[72..74].copy_from_slice(&32i16.to_le_bytes());
    for n in 0..8 {
        h[76 + 4 * n..80 + 4 * n].copy_from_slice(&1f32.to_le_bytes());
    }
    h[108..112].copy_from_slice(&352f32.to_le_bytes());
    h[254..256].copy_from_slice(&2i16.to_le_bytes()); // sform: aligned
    for (r, row) in affine.iter().take(3).enumerate() {
        for (c, v) in row.iter().enumerate() {
            let at = 280 + 16 * r + 4 * c;
            h[at..at + 4].copy_from_slice(&(*v as f32).to_le_bytes());
        }
    }
    h[344..348].copy_from_slice(b"n+1\0");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&h).unwrap();
    for v in values {
        gz.write_all(&v.to_le_bytes()).unwrap();
    }
    gz.finish().unwrap();
}

#[test]
fn split_by_patient_keeps_each_patients_images_together() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("s.voxmark");
    assert_eq!(common::voxmark([os("new"), project.clone().into()]).code, 0);
    // Two CR DICOM files of one patient (pydicom: both PatientID 16d7f894-55d7-4d95-8957-d18987f0e981),
    // two MIMIC-CXR subjects with two studies each, and two PNGs that say nothing of their patient.
    let mut files: Vec<std::path::PathBuf> = [
        "Fake_MONOHR1.dcm",
        "siim_acr_1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm",
    ]
    .iter()
    .map(|n| data.join("cxr/dicom").join(n))
    .collect();
    let png = data.join("cxr/nih_cxr14/00000001_000.png");
    for (subject, study, name) in [
        ("p10000032", "s50414267", "a1"),
        ("p10000032", "s53189527", "a2"),
        ("p10000764", "s57375967", "b1"),
        ("p10000764", "s59381317", "b2"),
    ] {
        let folder = dir.path().join("files/p10").join(subject).join(study);
        std::fs::create_dir_all(&folder).unwrap();
        let f = folder.join(format!("{name}.png"));
        std::fs::copy(&png, &f).unwrap();
        files.push(f);
    }
    for name in ["c1", "c2"] {
        let f = dir.path().join(format!("{name}.png"));
        std::fs::copy(&png, &f).unwrap();
        files.push(f);
    }
    let mut args = vec![os("add"), project.clone().into()];
    args.extend(files.iter().map(|p| p.clone().into_os_string()));
    let run = common::voxmark(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // One box per image, found by file stem.
    let mut csv =
        String::from("dicom_id,category_name,label_text,path,x,y,w,h,image_width,image_height\n");
    for f in &files {
        let stem = f.file_stem().unwrap().to_string_lossy();
        let side = if f.extension().is_some_and(|e| e == "dcm") {
            1024
        } else {
            512
        };
        csv += &format!("{stem},Edema,edema,x,10,20,30,40,{side},{side}\n");
    }
    let csv_path = dir.path().join("boxes.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("ms-cxr"),
        csv_path.into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("imported 8 boxes"), "{}", run.stdout);
    // The category names the boxes' label.
    let doc = voxmark::store::Project::open(&project)
        .unwrap()
        .load_document()
        .unwrap();
    let names: Vec<&str> = doc.labels.values().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["Edema"]);
    assert!(
        doc.regions
            .values()
            .all(|r| r.label == doc.labels.keys().next().copied())
    );

    let out = dir.path().join("split.csv");
    let run = common::voxmark([
        os("export"),
        project.clone().into(),
        os("--format"),
        os("ms-cxr"),
        os("--out"),
        out.clone().into(),
        os("--split"),
        os("train=0.6,test=0.4"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("train 3 patient(s)") && run.stdout.contains("test 2 patient(s)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("2 image(s): DICOM PatientID")
            && run.stdout.contains("4 image(s): MIMIC-CXR path")
            && run.stdout.contains("2 image(s): none"),
        "{}",
        run.stdout
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains("16d7f894") && !run.stdout.contains("16d7f894"),
        "no patient id out"
    );
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.get(10), Some("split"));
    let split_of: std::collections::BTreeMap<String, String> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[10].to_owned())
        })
        .collect();
    assert_eq!(split_of.len(), 8);
    let same = |a: &str, b: &str| split_of[a] == split_of[b];
    assert!(same(
        "Fake_MONOHR1",
        "siim_acr_1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819"
    ));
    assert!(same("a1", "a2") && same("b1", "b2"), "{split_of:?}");

    // RadFact: one file per split, the same assignment.
    let out = dir.path().join("reports.json");
    let run = common::voxmark([
        os("export"),
        project.clone().into(),
        os("--format"),
        os("radfact"),
        os("--out"),
        out.into(),
        os("--split"),
        os("train=0.6,test=0.4"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let count = |name: &str| {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(name)).unwrap()).unwrap();
        v.as_array().unwrap().len()
    };
    let in_train = split_of.values().filter(|s| *s == "train").count();
    assert_eq!(count("reports.train.json"), in_train);
    assert_eq!(count("reports.test.json"), 8 - in_train);
    // Mask exports hold one image: --split is refused by name; a bad spec names its part.
    for (format, extra, says) in [
        (
            "nifti-labels",
            "train=1",
            "--split is for the dataset exports",
        ),
        ("ms-cxr", "train=x", "split part \"train=x\""),
    ] {
        let run = common::voxmark([
            os("export"),
            project.clone().into(),
            os("--format"),
            os(format),
            os("--out"),
            dir.path().join("x").into(),
            os("--image"),
            os(&common::image_ids(&project)[0]),
            os("--split"),
            os(extra),
        ]);
        assert_eq!(run.code, 1);
        assert!(run.stderr.contains(says), "{}", run.stderr);
    }
}

/// PadChest-GR grounded reports (the release's `grounded_reports_<date>.json` layout: `ImageID`,
/// `StudyID`, findings with `sentence_en`/`sentence_es`, `abnormal`, `boxes` and `extra_boxes` of
/// the two readers normalised to the image, `labels`, `locations`, `progression`) onto two corpus
/// chest X-rays under PadChest file names, one cropped to 512×400 so that x and y cannot swap
/// unseen. The boxes come out of the MS-CXR export exactly where `tools/check_padchest_gr.py` puts
/// them in pixels (x1·W, y1·H, …), each reader's apart; `voxmark eval` of reader 2 against reader 1
/// gives numpy's union IoU per image; the report is the sentences in order, each phrase a span.
#[test]
fn padchest_gr_imports_both_readers_where_its_users_draw_them() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("PadChest_GR");
    std::fs::create_dir(&images).unwrap();
    let square = "216840111366964012283393834152009033102258826_02-059-019.png";
    let oblong = "216840111366964013076187734852011178154626671_02-031-115.png";
    std::fs::copy(
        data.join("cxr/nih_cxr14/00000001_000.png"),
        images.join(square),
    )
    .unwrap();
    image::open(data.join("cxr/nih_cxr14/00027426_000.png"))
        .unwrap()
        .crop_imm(0, 40, 512, 400)
        .save(images.join(oblong))
        .unwrap();
    let project = dir.path().join("p.voxmark");
    assert_eq!(common::voxmark([os("new"), project.clone().into()]).code, 0);
    let add = common::voxmark([os("add"), project.clone().into(), images.clone().into()]);
    assert_eq!(add.code, 0, "{}", add.stderr);
    let json = dir.path().join("grounded_reports_20240819.json");
    std::fs::write(
        &json,
        format!(
            r#"[
  {{"ImageID": "{square}", "StudyID": "st-1", "findings": [
    {{"sentence_en": "Cardiomegaly.", "sentence_es": "Cardiomegalia.", "abnormal": true,
      "boxes": [[0.3121, 0.4533, 0.7811, 0.8127]], "extra_boxes": [[0.2937, 0.4712, 0.7703, 0.8305]],
      "labels": ["cardiomegaly"], "locations": ["cardiac"], "progression": null}},
    {{"sentence_en": "Right basal pleural effusion, larger than before.", "sentence_es": "Derrame pleural basal derecho, mayor que previamente.",
      "abnormal": true, "boxes": [[0.0713, 0.6617, 0.4129, 0.9351], [0.1033, 0.5521, 0.2017, 0.6677]], "extra_boxes": [[0.0607, 0.6431, 0.4311, 0.9402]],
      "labels": ["pleural effusion"], "locations": ["right", "basal"], "progression": "Worsened"}},
    {{"sentence_en": "No pneumothorax.", "sentence_es": "Sin neumotórax.", "abnormal": false, "boxes": [], "extra_boxes": [], "labels": [], "locations": []}}
  ]}},
  {{"ImageID": "{oblong}", "StudyID": "st-2", "findings": [
    {{"sentence_en": "Left upper lobe nodule.", "abnormal": true,
      "boxes": [[0.6173, 0.1819, 0.7114, 0.3377]], "extra_boxes": [],
      "labels": ["nodule"], "locations": ["left", "upper lobe"], "progression": null}},
    {{"sentence_en": "Aortic elongation.", "abnormal": true, "boxes": [[0.4417, 0.1403, 0.6021, 0.4196]], "extra_boxes": [[0.4523, 0.1231, 0.5987, 0.4011]],
      "labels": ["aortic elongation"], "locations": ["aortic"], "progression": null}}
  ]}},
  {{"ImageID": "216840111366964012339356563862009072111404053_00-059-087.png", "StudyID": "st-3", "findings": [
    {{"sentence_en": "Scoliosis.", "abnormal": true, "boxes": [[0.4, 0.2, 0.6, 0.9]], "labels": ["scoliosis"]}}
  ]}}
]"#
        ),
    )
    .unwrap();
    let import = |file: &Path| {
        common::voxmark([
            os("import"),
            project.clone().into(),
            os("--format"),
            os("padchest-gr"),
            file.into(),
        ])
    };
    let run = import(&json);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "imported 2 studies: 8 phrases (1 absent findings), 5 boxes of reader 1 and 3 of reader 2; 1 study(ies) whose image is not in the project skipped"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(
            "not in the project: 216840111366964012339356563862009072111404053_00-059-087.png"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("locations and progression of 4 finding(s)"),
        "{}",
        run.stderr
    );

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/check_padchest_gr.py");
    let Some(reference) =
        common::python_json(&[script.as_os_str(), json.as_os_str(), images.as_os_str()])
    else {
        return;
    };
    for reader in ["1", "2"] {
        let out = dir.path().join(format!("reader{reader}.csv"));
        let run = common::voxmark([
            os("export"),
            project.clone().into(),
            os("--format"),
            os("ms-cxr"),
            os("--author"),
            os(&format!("human:padchest-gr-reader{reader}")),
            os("--out"),
            out.clone().into(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let mut ours: Vec<(String, String, String, [f64; 4], usize, usize)> =
            voxmark::io::ms_cxr::read(&out)
                .unwrap()
                .into_iter()
                .map(|r| {
                    (
                        r.path,
                        r.label_text,
                        r.category_name,
                        [r.x, r.y, r.w, r.h],
                        r.image_width,
                        r.image_height,
                    )
                })
                .collect();
        let mut theirs: Vec<(String, String, String, [f64; 4], usize, usize)> = reference["rows"]
            [reader]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let s = |i: usize| r[i].as_str().unwrap().to_string();
                let n = |i: usize| r[i].as_f64().unwrap();
                (
                    s(0),
                    s(1),
                    s(2),
                    [n(3), n(4), n(5), n(6)],
                    r[7].as_u64().unwrap() as usize,
                    r[8].as_u64().unwrap() as usize,
                )
            })
            .collect();
        let key = |a: &(String, String, String, [f64; 4], usize, usize)| {
            (a.0.clone(), a.1.clone(), (a.3[0] * 1e6) as i64)
        };
        ours.sort_by_key(key);
        theirs.sort_by_key(key);
        assert_eq!(
            ours.len(),
            theirs.len(),
            "reader {reader}: {ours:?}\n{theirs:?}"
        );
        for (o, t) in ours.iter().zip(&theirs) {
            assert_eq!((&o.0, &o.1, &o.2, o.4, o.5), (&t.0, &t.1, &t.2, t.4, t.5));
            assert!(
                o.3.iter().zip(&t.3).all(|(a, b)| (a - b).abs() < 1e-9),
                "reader {reader}: {o:?} vs {t:?}"
            );
        }
    }
    // Agreement of the readers, per image: eval's union IoU equals numpy's.
    let listing: serde_json::Value = serde_json::from_str(
        &common::voxmark([os("ls"), project.clone().into(), os("--json")]).stdout,
    )
    .unwrap();
    let name_of = |id: &str| {
        let img = listing["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .unwrap();
        assert_eq!(img["has_report"], true);
        Path::new(img["source"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string()
    };
    let eval = common::voxmark([
        os("eval"),
        project.clone().into(),
        os("--truth"),
        os("human:padchest-gr-reader1"),
        os("--pred"),
        os("human:padchest-gr-reader2"),
        os("--json"),
    ]);
    assert_eq!(eval.code, 0, "{}", eval.stderr);
    let eval: serde_json::Value = serde_json::from_str(&eval.stdout).unwrap();
    let rows = eval["image_level"]["images"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{eval}");
    for row in rows {
        let name = name_of(row["image"].as_str().unwrap());
        let theirs = reference["image_iou"][&name].as_f64().unwrap();
        let ours = row["iou"].as_f64().unwrap();
        assert!((ours - theirs).abs() < 1e-12, "{name}: {ours} vs {theirs}");
        assert!(ours > 0.5 && ours < 1.0, "{name}: {ours}");
    }
    // The report is the sentences in order and every phrase a span of it: the COCO export's
    // caption and tokens_positive say so.
    let coco = dir.path().join("coco.json");
    let run = common::voxmark([
        os("export"),
        project.clone().into(),
        os("--format"),
        os("coco"),
        os("--author"),
        os("human:padchest-gr-reader1"),
        os("--out"),
        coco.clone().into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let coco: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&coco).unwrap()).unwrap();
    let caption = coco["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["file_name"].as_str().unwrap().ends_with(square))
        .unwrap()["caption"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        caption,
        "Cardiomegaly. Right basal pleural effusion, larger than before. No pneumothorax."
    );
    // A file that names no project image changes nothing and exits 1; a broken box names its place.
    let none = dir.path().join("none.json");
    std::fs::write(
        &none,
        r#"[{"ImageID": "elsewhere.png", "findings": [{"sentence_en": "x", "boxes": [[0.1, 0.1, 0.2, 0.2]]}]}]"#,
    )
    .unwrap();
    let run = import(&none);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("none of the 1 studies' images is in the project (first: elsewhere.png)"),
        "{}",
        run.stderr
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        format!(r#"[{{"ImageID": "{square}", "findings": [{{"sentence_en": "x", "boxes": [[12, 30, 200, 400]]}}]}}]"#),
    )
    .unwrap();
    let run = import(&bad);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("[0].findings[0].boxes[0][0]") && run.stderr.contains("bad.json"),
        "{}",
        run.stderr
    );
    let listing_after: serde_json::Value = serde_json::from_str(
        &common::voxmark([os("ls"), project.clone().into(), os("--json")]).stdout,
    )
    .unwrap();
    let phrases = |l: &serde_json::Value| -> u64 {
        l["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["phrases"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(phrases(&listing_after), 8);
    // The same file again is refused (it would double the dataset), naming when and by whom it
    // came in; with --again it is imported a second time.
    let run = import(&json);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("was imported into this project before")
            && run.stderr.contains("UTC by human:padchest-gr-reader1")
            && run.stderr.contains("--again"),
        "{}",
        run.stderr
    );
    let run = common::voxmark([
        os("import"),
        project.clone().into(),
        os("--format"),
        os("padchest-gr"),
        json.clone().into(),
        os("--again"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let listing_again: serde_json::Value = serde_json::from_str(
        &common::voxmark([os("ls"), project.clone().into(), os("--json")]).stdout,
    )
    .unwrap();
    assert_eq!(phrases(&listing_again), 16);
}
