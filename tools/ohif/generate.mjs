// Writes a DICOM SR TID 1500 the way OHIF v3 saves its measurements: the Cornerstone3D SR adapter
// (@cornerstonejs/adapters, MeasurementReport.generateReport) on tool annotations made here, one of
// each tool Voxmark reads back (Length, RectangleROI, PlanarFreehandROI, EllipticalROI, CircleROI,
// Probe, ArrowAnnotate, Bidirectional), on
// the given images, with the statistics OHIF caches beside each ROI. Prints what it put in as JSON on
// its last line, in voxel (column, row) coordinates of each image and in values:
//   {"annotations": [{"tool", "label", "sop_instance_uid", "points": [[col, row], ...],
//                     "stats": {...}}]}
// usage: node generate.mjs OUT.dcm IMAGE.dcm [IMAGE.dcm ...]      (npm ci first, in this folder)
import fs from 'node:fs';
import { adapters, dcmjs, registerImages, warnings } from './images.mjs';

const { MeasurementReport } = adapters.adaptersSR.Cornerstone3D;

const [outPath, ...imagePaths] = process.argv.slice(2);
if (!outPath || imagePaths.length === 0) {
  process.stderr.write('usage: node generate.mjs OUT.dcm IMAGE.dcm [IMAGE.dcm ...]\n');
  process.exit(2);
}

const { images, metadata } = registerImages(imagePaths);

// The world position (LPS mm) of pixel (column, row), pixel centres at integers, as cornerstone has it.
const world = (plane, [c, r]) => {
  const o = plane.imagePositionPatient;
  const [rc, cc] = [plane.rowCosines, plane.columnCosines];
  return [0, 1, 2].map(
    a => o[a] + c * plane.columnPixelSpacing * rc[a] + r * plane.rowPixelSpacing * cc[a],
  );
};

// One of each tool, on the images in turn; the statistics are what OHIF would have cached (made up
// here, but recognisable: each must come back as said).
const made = [];
const toolState = {};
const add = (image, tool, label, points, stats, extra = {}) => {
  const data = {
    handles: { points: points.map(p => world(image.plane, p)), ...(extra.handles || {}) },
    cachedStats: { [`imageId:${image.imageId}`]: stats },
    label,
    ...(extra.data || {}),
  };
  const annotation = {
    data,
    metadata: {
      toolName: tool,
      referencedImageId: image.imageId,
      FrameOfReferenceUID: image.plane.frameOfReferenceUID,
    },
  };
  toolState[image.imageId] ??= {};
  toolState[image.imageId][tool] ??= { data: [] };
  toolState[image.imageId][tool].data.push(annotation);
  made.push({ tool, label, sop_instance_uid: image.sop, points, stats });
};
const at = n => images[n % images.length];
const spacing = at(0).plane.columnPixelSpacing;
add(at(0), 'Length', 'Aorta diameter', [[100, 120], [160, 200]], {
  length: Math.hypot(60 * spacing, 80 * at(0).plane.rowPixelSpacing),
  unit: 'mm',
});
add(at(1), 'RectangleROI', 'Liver lesion', [[300, 310], [360, 310], [300, 350], [360, 350]], {
  area: 60 * 40 * spacing * at(1).plane.rowPixelSpacing,
  mean: 52.25,
  stdDev: 11.5,
  max: 98,
  min: -4,
  areaUnit: 'mm²',
  modalityUnit: 'HU',
});
add(at(2), 'EllipticalROI', 'Cyst', [[200, 260], [240, 260], [220, 250], [220, 270]], {
  area: Math.PI * 20 * 10 * spacing * at(2).plane.rowPixelSpacing,
  mean: 7.5,
  stdDev: 3.25,
  max: 21,
  min: -2,
  areaUnit: 'mm²',
  modalityUnit: 'HU',
});
const freehand = [[50, 60], [90, 62], [95, 100], [60, 110], [45, 90]];
// Its area (shoelace) and perimeter in mm, as OHIF measures a closed contour.
const [sx, sy] = [at(0).plane.columnPixelSpacing, at(0).plane.rowPixelSpacing];
const ring = freehand.map((p, n) => [p, freehand[(n + 1) % freehand.length]]);
const shoelace = Math.abs(ring.reduce((s, [p, q]) => s + p[0] * q[1] - q[0] * p[1], 0)) / 2;
add(at(0), 'PlanarFreehandROI', 'Spleen', [], {
  area: shoelace * sx * sy,
  mean: 45.125,
  stdDev: 6.5,
  max: 70,
  min: 12,
  perimeter: ring.reduce((s, [p, q]) => s + Math.hypot((q[0] - p[0]) * sx, (q[1] - p[1]) * sy), 0),
  areaUnit: 'mm²',
  modalityUnit: 'HU',
}, {
  data: { contour: { polyline: freehand.map(p => world(at(0).plane, p)), closed: true } },
});
made[made.length - 1].points = freehand;
add(at(1), 'Probe', 'Calcification', [[256, 300]], { value: 412, modalityUnit: 'HU' });
// An arrow with its text (the tip first), and a circle.
// Their labels' text boxes were dragged: OHIF then writes a TextPosition SCOORD beside the region.
const moved = (image, p) => ({ textBox: { hasMoved: true, worldPosition: world(image.plane, p) } });
add(at(0), 'ArrowAnnotate', 'Look here', [[300, 200], [340, 160]], {}, {
  handles: { arrowFirst: true, ...moved(at(0), [360, 140]) },
});
add(at(1), 'ArrowAnnotate', 'And here', [[120, 400], [90, 430]], {}, {
  handles: { arrowFirst: false, ...moved(at(1), [80, 440]) },
});
// (Its head is at its second point: the tip comes first in what is said.)
made[made.length - 1].points = [[90, 430], [120, 400]];
const [cx, cy] = [at(0).plane.columnPixelSpacing, at(0).plane.rowPixelSpacing];
add(at(0), 'CircleROI', 'Round lesion', [[400, 400], [420, 400]], {
  area: Math.PI * 20 * 20 * cx * cy,
  mean: 12.5,
  stdDev: 2.5,
  max: 30,
  min: 1,
  radius: 20 * cx,
  areaUnit: 'mm²',
  modalityUnit: 'HU',
});
// A Bidirectional (RECIST): the long axis, then the short axis across it.
const [bx, by] = [at(2).plane.columnPixelSpacing, at(2).plane.rowPixelSpacing];
add(at(2), 'Bidirectional', 'Node', [[100, 300], [180, 340], [130, 340], [150, 300]], {
  length: Math.hypot(80 * bx, 40 * by),
  width: Math.hypot(20 * bx, 40 * by),
  unit: 'mm',
}, { handles: moved(at(2), [200, 360]) });

const report = MeasurementReport.generateReport(toolState, metadata, {});
const dataset = report.dataset;
const meta = {
  FileMetaInformationVersion: dataset._meta?.FileMetaInformationVersion?.Value?.[0] ?? new Uint8Array([0, 1]).buffer,
  MediaStorageSOPClassUID: dataset.SOPClassUID,
  MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
  TransferSyntaxUID: '1.2.840.10008.1.2.1',
  ImplementationClassUID: dcmjs.data.DicomMetaDictionary.uid(),
};
const dict = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(meta));
const { _meta, ...body } = dataset;
dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(body);
fs.writeFileSync(outPath, Buffer.from(dict.write()));
process.stdout.write(JSON.stringify({ annotations: made, warnings: warnings() }) + '\n');
