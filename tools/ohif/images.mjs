// What hydrate.mjs and generate.mjs share: the adapter's console output kept, DICOM files read with
// dcmjs, and the images' plane geometry and identity registered in cornerstone's metadata the way
// its wadouri provider gives them.
import fs from 'node:fs';

// The adapter logs through console (loglevel); keep what it says.
export const logged = [];
for (const level of ['warn', 'error', 'info', 'log', 'debug']) {
  console[level] = (...args) => logged.push({ level, text: args.map(String).join(' ') });
}

export const dcmjs = (await import('dcmjs')).default;
export const core = await import('@cornerstonejs/core');
export const adapters = await import('@cornerstonejs/adapters');

/** A DICOM file as a naturalized dcmjs dataset. */
export const read = path => {
  const buf = fs.readFileSync(path);
  const data = dcmjs.data.DicomMessage.readFile(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(data.dict);
};

/**
 * Registers each image (`wadouri:<path>`) with cornerstone's metadata; gives, in order,
 * {imageId, plane (imagePlaneModule), sop (SOPInstanceUID)} and the metadata provider.
 */
export const registerImages = paths => {
  const modules = new Map();
  const images = [];
  for (const path of paths) {
    const ds = read(path);
    const imageId = `wadouri:${path}`;
    const iop = ds.ImageOrientationPatient.map(Number);
    const [rowSpacing, columnSpacing] = ds.PixelSpacing.map(Number);
    const plane = {
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
    };
    const { PixelData, ...instance } = ds;
    modules.set(imageId, {
      imagePlaneModule: plane,
      sopCommonModule: { sopInstanceUID: ds.SOPInstanceUID, sopClassUID: ds.SOPClassUID },
      generalSeriesModule: { modality: ds.Modality, seriesInstanceUID: ds.SeriesInstanceUID },
      instance,
    });
    images.push({ imageId, plane, sop: ds.SOPInstanceUID });
  }
  core.metaData.addProvider((type, imageId) => modules.get(imageId)?.[type], 10000);
  const metadata = { get: (type, imageId) => core.metaData.get(type, imageId) };
  return { images, metadata };
};

/** What the adapter warned of or reported as an error since `from`. */
export const warnings = (from = 0) =>
  logged.slice(from).filter(l => l.level === 'warn' || l.level === 'error').map(l => l.text);
