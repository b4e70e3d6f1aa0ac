// Runs the Cornerstone3D SR adapter (@cornerstonejs/adapters, what OHIF v3 uses to re-open a DICOM
// SR's measurements as editable tools: "hydration") on a TID 1500 report Voxmark wrote, with the
// source images' plane geometry registered in cornerstone's metadata, and prints what came back as
// JSON on its last line:
//   {"tools": {"RectangleROI": 1, ...}, "annotations": [{"tool", "label", "sop_instance_uid",
//    "tracking_uid", "points": [[x, y, z] world mm, ...]}], "warnings": ["..."]}
// usage: node hydrate.mjs REPORT.dcm IMAGE.dcm [IMAGE.dcm ...]      (npm ci first, in this folder)
import { adapters, logged, read, registerImages, warnings } from './images.mjs';

const { MeasurementReport } = adapters.adaptersSR.Cornerstone3D;

const [reportPath, ...imagePaths] = process.argv.slice(2);
if (!reportPath || imagePaths.length === 0) {
  process.stderr.write('usage: node hydrate.mjs REPORT.dcm IMAGE.dcm [IMAGE.dcm ...]\n');
  process.exit(2);
}

const { images, metadata } = registerImages(imagePaths);
const imageIds = Object.fromEntries(images.map(i => [`${i.sop}:1`, i.imageId]));

const report = read(reportPath);
const before = logged.length;
const state = MeasurementReport.generateToolState(report, imageIds, metadata, {});
const tools = {};
const annotations = [];
for (const [tool, list] of Object.entries(state)) {
  tools[tool] = list.length;
  for (const m of list) {
    const a = m.annotation;
    annotations.push({
      tool,
      label: a.data.label ?? null,
      sop_instance_uid: m.sopInstanceUid ?? null,
      tracking_uid: m.TrackingUniqueIdentifier ?? null,
      points: (a.data.handles.points || []).map(p => Array.from(p)),
      contour: a.data.contour?.polyline?.map(p => Array.from(p)) ?? null,
    });
  }
}
process.stdout.write(JSON.stringify({ tools, annotations, warnings: warnings(before) }) + '\n');
