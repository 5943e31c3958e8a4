//! Real images for upload tests, made here rather than checked in as binary files: the server
//! decodes and re-encodes every upload, so a file has to be a picture, and the attacks (a
//! polyglot, a header that lies about its size, a photo with its GPS position) are easier to
//! read as the code that builds them.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

/// A `width`×`height` JPEG of a colour gradient, so that each size encodes differently.
pub fn jpeg(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let picture = RgbImage::from_fn(width, height, |x, y| {
        let shade = |v: u32, of: u32| u8::try_from(v * 255 / of.max(1)).unwrap_or(u8::MAX);
        Rgb([shade(x, width), shade(y, height), 128])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90).encode_image(&picture)?;
    Ok(bytes)
}

/// A small real JPEG (8×8), the stand-in for a phone photo where its content does not matter.
pub fn tiny_jpeg() -> Vec<u8> {
    // An 8×8 gradient always encodes; the empty fallback would fail the test that uses it.
    jpeg(8, 8).unwrap_or_default()
}

/// `jpeg` with a segment (`marker`, `payload`) inserted right after its start-of-image marker,
/// where cameras put their APP1 (EXIF) block and editors their COM (comment) segments.
pub fn with_segment(jpeg: &[u8], marker: u8, payload: &[u8]) -> anyhow::Result<Vec<u8>> {
    let rest = jpeg
        .strip_prefix(&[0xff, 0xd8])
        .ok_or_else(|| anyhow::anyhow!("not a JPEG"))?;
    let length = u16::try_from(payload.len() + 2)?;
    let mut out = vec![0xff, 0xd8, 0xff, marker];
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(rest);
    Ok(out)
}

/// The APP1 marker an EXIF block travels in.
pub const APP1: u8 = 0xe1;
/// The COM (comment) marker.
pub const COM: u8 = 0xfe;

/// The latitude the EXIF block of `exif` carries, as it is stored: three big-endian rationals,
/// 20° 2′ 24.00″ N (海口). Finding these 24 bytes in a stored file means the position leaked.
pub const GPS_LATITUDE: [u8; 24] = [
    0, 0, 0, 20, 0, 0, 0, 1, // 20/1 degrees
    0, 0, 0, 2, 0, 0, 0, 1, // 2/1 minutes
    0, 0, 0x09, 0x60, 0, 0, 0, 100, // 2400/100 seconds
];

/// The APP1 payload of a phone photo: `Exif\0\0`, then a big-endian TIFF block whose first
/// directory holds the `orientation` (1 = upright, 6 = turn 90° clockwise to view) and a
/// pointer to a GPS directory with a latitude (`GPS_LATITUDE`) and a longitude.
pub fn exif(orientation: u16) -> Vec<u8> {
    // Offsets count from the TIFF header: IFD0 at 8 (2 entries: 30 bytes), the GPS IFD at 38
    // (4 entries: 54 bytes), then the latitude at 92 and the longitude at 116.
    let entry = |tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        let mut e = Vec::with_capacity(12);
        e.extend_from_slice(&tag.to_be_bytes());
        e.extend_from_slice(&kind.to_be_bytes());
        e.extend_from_slice(&count.to_be_bytes());
        e.extend_from_slice(&value);
        e
    };
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const ASCII: u16 = 2;
    const RATIONAL: u16 = 5;
    let [o1, o2] = orientation.to_be_bytes();
    let mut tiff = b"MM\0\x2a".to_vec();
    tiff.extend_from_slice(&8u32.to_be_bytes());
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend(entry(0x0112, SHORT, 1, [o1, o2, 0, 0]));
    tiff.extend(entry(0x8825, LONG, 1, 38u32.to_be_bytes()));
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(&4u16.to_be_bytes());
    tiff.extend(entry(0x0001, ASCII, 2, *b"N\0\0\0"));
    tiff.extend(entry(0x0002, RATIONAL, 3, 92u32.to_be_bytes()));
    tiff.extend(entry(0x0003, ASCII, 2, *b"E\0\0\0"));
    tiff.extend(entry(0x0004, RATIONAL, 3, 116u32.to_be_bytes()));
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(&GPS_LATITUDE);
    for (value, per) in [(110u32, 1u32), (20, 1), (2400, 100)] {
        tiff.extend_from_slice(&value.to_be_bytes());
        tiff.extend_from_slice(&per.to_be_bytes());
    }
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    payload
}

/// A PNG whose header claims `width`×`height` RGBA pixels, followed by pixel data for its first
/// rows only: a few kilobytes of compressed zeros that a decoder trusting the header would
/// decode into a buffer of width × height × 4 bytes.
pub fn png_bomb(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    use std::io::Write as _;
    let row = usize::try_from(width)? * 4 + 1;
    let mut zeros = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..16 {
        zeros.write_all(&vec![0u8; row])?;
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_chunk(png::chunk::IDAT, &zeros.finish()?)?;
    // Dropping the writer ends the file (IEND) without the rest of the rows.
    drop(writer);
    Ok(bytes)
}

/// Decodes `bytes` as the shop's clients would, guessing the format from the content.
pub fn decode(bytes: &[u8]) -> anyhow::Result<DynamicImage> {
    Ok(image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()?
        .decode()?)
}

/// The format of `bytes`, guessed from the content.
pub fn format(bytes: &[u8]) -> Option<ImageFormat> {
    image::guess_format(bytes).ok()
}

/// Whether `a` and `b` decode to the same pixels (a lossless picture after the server's
/// re-encoding: the bytes differ, the picture does not).
pub fn same_picture(a: &[u8], b: &[u8]) -> anyhow::Result<bool> {
    Ok(decode(a)?.to_rgba8() == decode(b)?.to_rgba8())
}

/// Whether `haystack` contains `needle` anywhere.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
