// Runs the Cornerstone3D SR adapter (@cornerstonejs/adapters, what OHIF v3 uses to re-open a DICOM
// SR's measurements as editable tools: "hydration") on a TID 1500 report Voxmark wrote, with the
// source images' plane geometry registered in cornerstone's metadata, and prints what came back as
// JSON on its last line:
//   {"tools": {"RectangleROI": 1, ...}, "annotations": [{"tool", "label", "sop_instance_uid",
//    "tracking_uid", "points": [[x, y, z] world mm, ...]}], "warnings": ["..."]}
// usage: node hydrate.mjs REPORT.dcm IMAGE.dcm [IMAGE.dcm ...]      (npm ci first, in this folder)
import fs from 'node:fs';

// The adapter logs through console (loglevel); keep what it says while hydrating.
const logged = [];
for (const level of ['warn', 'error', 'info', 'log', 'debug']) {
  console[level] = (...args) => logged.push({ level, text: args.map(String).join(' ') });
}

const dcmjs = (await import('dcmjs')).default;
const core = await import('@cornerstonejs/core');
const adapters = await import('@cornerstonejs/adapters');
const { MeasurementReport } = adapters.adaptersSR.Cornerstone3D;

const [reportPath, ...imagePaths] = process.argv.slice(2);
if (!reportPath || imagePaths.length === 0) {
  process.stderr.write('usage: node hydrate.mjs REPORT.dcm IMAGE.dcm [IMAGE.dcm ...]\n');
  process.exit(2);
}

const read = path => {
  const buf = fs.readFileSync(path);
  const data = dcmjs.data.DicomMessage.readFile(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(data.dict);
};

// The images' plane geometry, as cornerstone's wadouri metadata provider gives it.
const modules = new Map();
const imageIds = {};
for (const path of imagePaths) {
  const ds = read(path);
  const imageId = `wadouri:${path}`;
  const iop = ds.ImageOrientationPatient.map(Number);
  const [rowSpacing, columnSpacing] = ds.PixelSpacing.map(Number);
  modules.set(imageId, {
    imagePlaneModule: {
      frameOfReferenceUID: ds.FrameOfReferenceUID,
      rows: ds.Rows,
      columns: ds.Columns,
      imageOrientationPatient: iop,
      rowCosines: iop.slice(0, 3),
      columnCosines: iop.slice(3, 6),
      imagePositionPatient: ds.ImagePositionPatient.map(Number),
      pixelSpacing: [rowSpacing, columnSpacing],
      rowPixelSpacing: rowSpacing,
      columnPixelSpacing: columnSpacing,
    },
    sopCommonModule: { sopInstanceUID: ds.SOPInstanceUID, sopClassUID: ds.SOPClassUID },
    generalSeriesModule: { modality: ds.Modality, seriesInstanceUID: ds.SeriesInstanceUID },
  });
  imageIds[`${ds.SOPInstanceUID}:1`] = imageId;
}
core.metaData.addProvider((type, imageId) => modules.get(imageId)?.[type], 10000);
const metadata = { get: (type, imageId) => core.metaData.get(type, imageId) };

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
const warnings = logged.slice(before).filter(l => l.level === 'warn' || l.level === 'error').map(l => l.text);
process.stdout.write(JSON.stringify({ tools, annotations, warnings }) + '\n');
