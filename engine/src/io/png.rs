//! Pictures of frames: an RGB [`Image`], a particle renderer ([`render_frame`]), and a PNG
//! encoder (8-bit RGB; zlib with one fixed-Huffman deflate block whose matches repeat the
//! previous pixel or the row above, which is what rendered frames are made of) with the
//! decoder that reads it back.

use crate::error::{Error, Result};
use crate::math::{Real, det};
use crate::mpm::{Model, State};
use std::path::Path;

/// An 8-bit RGB image, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `3 * width * height` bytes: red, green, blue per pixel, row-major from the top left.
    pub pixels: Vec<u8>,
}

impl Image {
    /// An image filled with `colour`.
    pub fn new(width: u32, height: u32, colour: [u8; 3]) -> Self {
        let pixels = colour.repeat(width as usize * height as usize);
        Image { width, height, pixels }
    }

    /// The colour of pixel (`x`, `y`), counted from the top left.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = 3 * (y as usize * self.width as usize + x as usize);
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    /// Mixes `colour` into pixel (`x`, `y`) with weight `alpha` in [0, 1]; pixels outside the
    /// image are ignored.
    fn blend(&mut self, x: i64, y: i64, colour: [f32; 3], alpha: f32) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        let i = 3 * (y as usize * self.width as usize + x as usize);
        for (c, px) in colour.iter().zip(&mut self.pixels[i..i + 3]) {
            *px = (*px as f32 * (1.0 - alpha) + c * alpha).round().clamp(0.0, 255.0) as u8;
        }
    }

    /// The image as the bytes of a PNG file.
    pub fn to_png(&self) -> Vec<u8> {
        let stride = 1 + 3 * self.width as usize;
        let mut raw = Vec::with_capacity(stride * self.height as usize);
        for row in self.pixels.chunks_exact(3 * self.width as usize) {
            raw.push(0); // filter type None
            raw.extend_from_slice(row);
        }
        let mut zlib = vec![0x78, 0x01];
        zlib.extend(deflate(&raw, stride));
        zlib.extend(adler32(&raw).to_be_bytes());

        let mut ihdr = Vec::with_capacity(13);
        ihdr.extend(self.width.to_be_bytes());
        ihdr.extend(self.height.to_be_bytes());
        // Bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
        ihdr.extend([8, 2, 0, 0, 0]);
        let mut png = PNG_SIGNATURE.to_vec();
        for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &zlib[..]), (b"IEND", &[][..])] {
            png.extend((data.len() as u32).to_be_bytes());
            let start = png.len();
            png.extend_from_slice(kind);
            png.extend_from_slice(data);
            let crc = crc32(&png[start..]);
            png.extend(crc.to_be_bytes());
        }
        png
    }

    /// Writes the image to `path` as a PNG (atomically: see [`super::write_atomic`]).
    pub fn write_png(&self, path: &Path) -> Result<()> {
        super::write_atomic(path, &self.to_png())
    }

    /// Decodes a PNG of the kind [`Image::to_png`] writes: 8-bit RGB, not interlaced, rows
    /// unfiltered, deflate blocks stored or fixed-Huffman. Checks every chunk's CRC and the
    /// zlib checksum. Errors name `file_name`.
    pub fn from_png(bytes: &[u8], file_name: &str) -> Result<Self> {
        let fail = |message: &str| Err(Error::scene(file_name, None, message.to_string()));
        if !bytes.starts_with(&PNG_SIGNATURE) {
            return fail("not a PNG file");
        }
        let (mut at, mut size, mut zlib) = (PNG_SIGNATURE.len(), None, Vec::new());
        loop {
            let Some(head) = bytes.get(at..at + 8) else { return fail("the file ends inside a chunk") };
            let len = u32::from_be_bytes(head[..4].try_into().unwrap()) as usize;
            let Some(chunk) = bytes.get(at + 4..at + 8 + len + 4) else {
                return fail("the file ends inside a chunk");
            };
            let (body, crc) = chunk.split_at(4 + len);
            if crc32(body) != u32::from_be_bytes(crc.try_into().unwrap()) {
                return fail("a chunk's CRC does not match");
            }
            let data = &body[4..];
            match &body[..4] {
                b"IHDR" => {
                    if len != 13 || data[8..] != [8, 2, 0, 0, 0] {
                        return fail("only 8-bit RGB non-interlaced PNGs are supported");
                    }
                    let word = |i: usize| u32::from_be_bytes(data[i..i + 4].try_into().unwrap());
                    size = Some((word(0), word(4)));
                }
                b"IDAT" => zlib.extend_from_slice(data),
                b"IEND" => break,
                _ => {}
            }
            at += 12 + len;
        }
        let Some((width, height)) = size else { return fail("no IHDR chunk") };
        if zlib.len() < 6 || zlib[0] & 0x0f != 8 || (u16::from_be_bytes([zlib[0], zlib[1]]) % 31) != 0 {
            return fail("the image data is not a zlib stream");
        }
        let Some(raw) = inflate(&zlib[2..zlib.len() - 4]) else { return fail("the image data is not valid deflate") };
        if adler32(&raw).to_be_bytes() != zlib[zlib.len() - 4..] {
            return fail("the image data's Adler-32 checksum does not match");
        }
        let stride = 1 + 3 * width as usize;
        if raw.len() != stride * height as usize {
            return fail("the image data has the wrong size");
        }
        let mut pixels = Vec::with_capacity(raw.len() - height as usize);
        for row in raw.chunks_exact(stride) {
            if row[0] != 0 {
                return fail("only unfiltered rows are supported");
            }
            pixels.extend_from_slice(&row[1..]);
        }
        Ok(Image { width, height, pixels })
    }
}

/// The eight bytes every PNG file starts with.
pub const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

/// CRC-32 (ISO 3309, the polynomial of PNG and zlib's gzip), table-driven.
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut n = 0;
        while n < 256 {
            let mut c = n as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            table[n] = c;
            n += 1;
        }
        table
    };
    !bytes.iter().fold(!0u32, |c, &b| TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8))
}

/// Adler-32, the checksum that ends a zlib stream.
pub fn adler32(bytes: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 is the longest run whose sums cannot overflow before the modulo.
    for chunk in bytes.chunks(5552) {
        for &x in chunk {
            a += x as u32;
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// Base match length of length codes 257..=285, and their extra bits.
const LENGTH_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
/// Base distance of distance codes 0..=29, and their extra bits.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

/// Packs bits least-significant first, as deflate does.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    acc: u64,
    len: u32,
}

impl BitWriter {
    fn bits(&mut self, value: u32, count: u32) {
        self.acc |= (value as u64) << self.len;
        self.len += count;
        while self.len >= 8 {
            self.bytes.push(self.acc as u8);
            self.acc >>= 8;
            self.len -= 8;
        }
    }

    /// A Huffman code: its bits go most-significant first.
    fn code(&mut self, code: u32, count: u32) {
        self.bits(code.reverse_bits() >> (32 - count), count);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.len > 0 {
            self.bytes.push(self.acc as u8);
        }
        self.bytes
    }
}

/// A literal/length symbol in the fixed Huffman code (RFC 1951, 3.2.6).
fn fixed_literal(w: &mut BitWriter, symbol: u32) {
    match symbol {
        0..=143 => w.code(0x30 + symbol, 8),
        144..=255 => w.code(0x190 + symbol - 144, 9),
        256..=279 => w.code(symbol - 256, 7),
        _ => w.code(0xc0 + symbol - 280, 8),
    }
}

/// One fixed-Huffman deflate block of `data`, whose matches copy from one pixel back (3 bytes)
/// or one row back (`row` bytes): runs of background and the rows of a disc compress well at
/// a tiny fraction of a general LZ77 search's cost.
fn deflate(data: &[u8], row: usize) -> Vec<u8> {
    let mut w = BitWriter::default();
    w.bits(1, 1); // final block
    w.bits(1, 2); // fixed Huffman codes
    let distances: Vec<usize> = [3, row].into_iter().filter(|&d| d <= 32768).collect();
    let mut i = 0;
    while i < data.len() {
        let limit = (data.len() - i).min(258);
        let (mut len, mut dist) = (0, 0);
        for &d in distances.iter().filter(|&&d| d <= i) {
            let l = (0..limit).take_while(|&k| data[i + k] == data[i + k - d]).count();
            if l > len {
                (len, dist) = (l, d);
            }
        }
        if len < 3 {
            fixed_literal(&mut w, data[i] as u32);
            i += 1;
            continue;
        }
        let lc = LENGTH_BASE.iter().rposition(|&b| b as usize <= len).unwrap();
        fixed_literal(&mut w, 257 + lc as u32);
        w.bits((len - LENGTH_BASE[lc] as usize) as u32, LENGTH_EXTRA[lc] as u32);
        let dc = DIST_BASE.iter().rposition(|&b| b as usize <= dist).unwrap();
        w.code(dc as u32, 5);
        w.bits((dist - DIST_BASE[dc] as usize) as u32, DIST_EXTRA[dc] as u32);
        i += len;
    }
    fixed_literal(&mut w, 256); // end of block
    w.finish()
}

/// Reads bits least-significant first.
struct BitReader<'a> {
    bytes: &'a [u8],
    bit: usize,
}

impl BitReader<'_> {
    fn bits(&mut self, count: u32) -> Option<u32> {
        let mut v = 0;
        for k in 0..count {
            let byte = *self.bytes.get(self.bit / 8)?;
            v |= (((byte >> (self.bit % 8)) & 1) as u32) << k;
            self.bit += 1;
        }
        Some(v)
    }

    /// Reads a Huffman code one bit at a time, most-significant first.
    fn code_bit(&mut self, code: u32) -> Option<u32> {
        Some((code << 1) | self.bits(1)?)
    }
}

/// Inflates a raw deflate stream made of stored and fixed-Huffman blocks; `None` if it is
/// malformed or uses dynamic Huffman codes.
fn inflate(data: &[u8]) -> Option<Vec<u8>> {
    let mut r = BitReader { bytes: data, bit: 0 };
    let mut out = Vec::new();
    loop {
        let last = r.bits(1)? == 1;
        match r.bits(2)? {
            0 => {
                r.bit = r.bit.div_ceil(8) * 8;
                let at = r.bit / 8;
                let len = u16::from_le_bytes([*data.get(at)?, *data.get(at + 1)?]) as usize;
                let nlen = u16::from_le_bytes([*data.get(at + 2)?, *data.get(at + 3)?]) as usize;
                if len != !nlen & 0xffff {
                    return None;
                }
                out.extend_from_slice(data.get(at + 4..at + 4 + len)?);
                r.bit = (at + 4 + len) * 8;
            }
            1 => loop {
                let mut code = 0;
                for _ in 0..7 {
                    code = r.code_bit(code)?;
                }
                let symbol = if code <= 23 {
                    256 + code
                } else {
                    code = r.code_bit(code)?;
                    match code {
                        0x30..=0xbf => code - 0x30,
                        0xc0..=0xc7 => 280 + code - 0xc0,
                        _ => 144 + r.code_bit(code)? - 0x190,
                    }
                };
                match symbol {
                    0..=255 => out.push(symbol as u8),
                    256 => break,
                    _ => {
                        let lc = (symbol - 257) as usize;
                        let len = *LENGTH_BASE.get(lc)? as usize + r.bits(*LENGTH_EXTRA.get(lc)? as u32)? as usize;
                        let mut dc = 0;
                        for _ in 0..5 {
                            dc = r.code_bit(dc)?;
                        }
                        let dc = dc as usize;
                        let dist = *DIST_BASE.get(dc)? as usize + r.bits(*DIST_EXTRA.get(dc)? as u32)? as usize;
                        let start = out.len().checked_sub(dist)?;
                        for k in 0..len {
                            out.push(out[start + k]);
                        }
                    }
                }
            },
            _ => return None,
        }
        if last {
            return Some(out);
        }
    }
}

/// Background of rendered frames.
pub const BACKGROUND: [u8; 3] = [18, 20, 26];
/// Colour of the domain outline.
const OUTLINE: [f32; 3] = [96.0, 104.0, 120.0];
/// Material colours, by material index (cycled).
const PALETTE: [[f32; 3]; 8] = [
    [86.0, 156.0, 240.0],  // blue
    [244.0, 144.0, 62.0],  // orange
    [96.0, 200.0, 128.0],  // green
    [236.0, 96.0, 110.0],  // red
    [178.0, 142.0, 240.0], // violet
    [240.0, 208.0, 86.0],  // yellow
    [88.0, 206.0, 210.0],  // teal
    [240.0, 150.0, 200.0], // pink
];

/// Maps simulation space to the image: an orthographic view, fitted to the domain box with a
/// margin. 2D: the domain as it is, y up. 3D: turned 35 degrees about the vertical and tilted
/// 25 degrees so that the top and two sides of the box show.
struct Camera {
    dim: usize,
    /// Centre of the domain (world units).
    center: [f64; 3],
    /// Pixels per world unit.
    scale: f64,
    /// Image position of the domain centre.
    origin: [f64; 2],
    rotation: [[f64; 3]; 3],
}

impl Camera {
    fn new(dim: usize, extent: [f64; 3], width: u32, height: u32) -> Self {
        let (yaw, pitch) = if dim == 2 { (0.0f64, 0.0f64) } else { (35f64.to_radians(), 25f64.to_radians()) };
        let (sy, cy, sp, cp) = (yaw.sin(), yaw.cos(), pitch.sin(), pitch.cos());
        // Pitch about x after yaw about y; view space has x right, y up, z towards the viewer.
        let rotation = [[cy, 0.0, sy], [sp * sy, cp, -sp * cy], [-cp * sy, sp, cp * cy]];
        let center = extent.map(|e| e / 2.0);
        let mut camera = Camera { dim, center, scale: 1.0, origin: [0.0; 2], rotation };
        let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
        for corner in camera.box_corners(extent) {
            let v = camera.view(corner);
            for a in 0..2 {
                lo[a] = lo[a].min(v[a]);
                hi[a] = hi[a].max(v[a]);
            }
        }
        let margin = 0.04 * width.min(height) as f64 + 2.0;
        let fit = |pixels: u32, span: f64| (pixels as f64 - 2.0 * margin).max(1.0) / span.max(1e-12);
        camera.scale = fit(width, hi[0] - lo[0]).min(fit(height, hi[1] - lo[1]));
        let mid = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        camera.origin = [width as f64 / 2.0 - mid[0] * camera.scale, height as f64 / 2.0 + mid[1] * camera.scale];
        camera
    }

    /// The corners of the domain box (four in 2D).
    fn box_corners(&self, extent: [f64; 3]) -> Vec<[f64; 3]> {
        let corners = if self.dim == 2 { 4 } else { 8 };
        (0..corners).map(|k| [0, 1, 2].map(|a| if k >> a & 1 == 1 { extent[a] } else { 0.0 })).collect()
    }

    /// View-space coordinates (world units about the domain centre).
    fn view(&self, p: [f64; 3]) -> [f64; 3] {
        let d = [0, 1, 2].map(|a| p[a] - self.center[a]);
        self.rotation.map(|row| row[0] * d[0] + row[1] * d[1] + row[2] * d[2])
    }

    /// Image position (pixels, y down) and depth (world units, larger is nearer).
    fn project(&self, p: [f64; 3]) -> (f64, f64, f64) {
        let v = self.view(p);
        (self.origin[0] + v[0] * self.scale, self.origin[1] - v[1] * self.scale, v[2])
    }
}

/// Draws an antialiased line.
fn line(image: &mut Image, a: (f64, f64), b: (f64, f64), colour: [f32; 3]) {
    let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil().max(1.0) as usize;
    for k in 0..=steps {
        let t = k as f64 / steps as f64;
        let (x, y) = (a.0 + (b.0 - a.0) * t - 0.5, a.1 + (b.1 - a.1) * t - 0.5);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
        for (dx, dy, w) in
            [(0, 0, (1.0 - fx) * (1.0 - fy)), (1, 0, fx * (1.0 - fy)), (0, 1, (1.0 - fx) * fy), (1, 1, fx * fy)]
        {
            image.blend(x0 as i64 + dx, y0 as i64 + dy, colour, w);
        }
    }
}

/// Brightness factor for a volume ratio `j`: compressed material lighter, stretched darker.
fn j_shade(j: f64) -> f32 {
    if j.is_finite() { (1.0 + 0.6 * (1.0 - j)).clamp(0.7, 1.3) as f32 } else { 1.0 }
}

/// Renders the particles of `state`: the domain box outlined on a dark background, particles
/// as discs coloured by material and shaded lightly by volume ratio `J` (compressed lighter).
/// 2D frames show the domain as it is. 3D frames are an orthographic view from above one
/// corner: particles are depth-buffered sphere impostors lit by the surface their depth map
/// describes (so that a body's faces read), slightly darker with distance.
pub fn render_frame<T: Real, const D: usize>(
    model: &Model<T, D>,
    state: &State<T, D>,
    width: u32,
    height: u32,
) -> Image {
    let mut image = Image::new(width, height, BACKGROUND);
    let grid_extent = model.grid.extent();
    let extent = [0, 1, 2].map(|a| if a < D { grid_extent[a].to_f64() } else { 0.0 });
    let camera = Camera::new(D, extent, width, height);

    let corners = camera.box_corners(extent);
    for (i, &a) in corners.iter().enumerate() {
        for axis in 0..D {
            if i >> axis & 1 == 0 {
                let (ax, ay, _) = camera.project(a);
                let (bx, by, _) = camera.project(corners[i | 1 << axis]);
                line(&mut image, (ax, ay), (bx, by), OUTLINE);
            }
        }
    }
    let n = state.len();
    if n == 0 {
        return image;
    }
    // Discs as wide as the particle spacing (the side of a particle's volume).
    let volume = model.particles.volume.iter().map(|v| v.to_f64()).sum::<f64>() / n as f64;
    let radius = (0.6 * volume.max(0.0).powf(1.0 / D as f64) * camera.scale).clamp(1.0, 12.0);
    let reach = radius.ceil() as i64 + 1;
    // 3D: the nearest sphere surface at each pixel (depth, colour, sphere normal), shaded after.
    let mut fragments: Vec<Option<Fragment>> = vec![None; if D == 3 { width as usize * height as usize } else { 0 }];
    for p in 0..n {
        let pos = [0, 1, 2].map(|a| if a < D { state.x[p][a].to_f64() } else { 0.0 });
        let (px, py, pz) = camera.project(pos);
        // Off-image (or non-finite) particles are skipped; written so that NaN fails too.
        let r = reach as f64;
        if !(px + r >= 0.0 && py + r >= 0.0 && px - r < width as f64 && py - r < height as f64 && pz.is_finite()) {
            continue;
        }
        let (cx, cy) = (px.floor() as i64, py.floor() as i64);
        let material = model.particles.material.get(p).copied().unwrap_or(0) as usize;
        let colour = PALETTE[material % PALETTE.len()].map(|c| c * j_shade(det(&state.f[p]).to_f64()));
        for y in (cy - reach).max(0)..=(cy + reach).min(height as i64 - 1) {
            for x in (cx - reach).max(0)..=(cx + reach).min(width as i64 - 1) {
                let (dx, dy) = (x as f64 + 0.5 - px, y as f64 + 0.5 - py);
                let d = (dx * dx + dy * dy).sqrt();
                if D == 2 {
                    let coverage = (radius + 0.5 - d).clamp(0.0, 1.0) as f32;
                    if coverage > 0.0 {
                        image.blend(x, y, colour, coverage);
                    }
                    continue;
                }
                if d > radius {
                    continue;
                }
                // A sphere impostor: its surface height gives depth and a normal.
                let nz = (1.0 - (d / radius).powi(2)).max(0.0).sqrt();
                let depth = pz + nz * radius / camera.scale;
                let slot = &mut fragments[y as usize * width as usize + x as usize];
                if slot.is_none_or(|f| depth > f.depth) {
                    *slot = Some(Fragment { depth, colour, bump: [dx / radius, -dy / radius] });
                }
            }
        }
    }
    if D == 3 {
        shade_fragments(&mut image, &fragments, (2.0 * radius).round().max(2.0) as usize, camera.scale);
    }
    image
}

/// Draws a path through the domain (a center of mass over a rollout, say) over a picture made
/// by [`render_frame`] of the same model and size, in the colour `colour` (0-255 RGB), with a
/// cross at `mark` if given (a target).
pub fn draw_path<T: Real, const D: usize>(
    image: &mut Image,
    model: &Model<T, D>,
    points: &[[f64; 3]],
    mark: Option<[f64; 3]>,
    colour: [u8; 3],
) {
    let grid_extent = model.grid.extent();
    let extent = [0, 1, 2].map(|a| if a < D { grid_extent[a].to_f64() } else { 0.0 });
    let camera = Camera::new(D, extent, image.width, image.height);
    let colour = colour.map(|c| c as f32);
    let to_pixel = |p: [f64; 3]| {
        let (x, y, _) = camera.project(p);
        (x, y)
    };
    for pair in points.windows(2) {
        line(image, to_pixel(pair[0]), to_pixel(pair[1]), colour);
    }
    if let Some(m) = mark {
        let (x, y) = to_pixel(m);
        let r = 0.01 * image.width.min(image.height) as f64 + 2.0;
        line(image, (x - r, y - r), (x + r, y + r), colour);
        line(image, (x - r, y + r), (x + r, y - r), colour);
    }
}

/// The visible surface of a 3D frame at one pixel.
#[derive(Clone, Copy)]
struct Fragment {
    /// View depth (larger is nearer).
    depth: f64,
    colour: [f32; 3],
    /// Screen-space x and y (up) of the particle sphere's normal.
    bump: [f64; 2],
}

/// Lights the visible surface of a 3D frame. Single particles are too small to show the shape
/// of a body, so the normal is taken from the depth map smoothed over `window` pixels (the
/// body's surface), with a little of each particle sphere's normal for texture; the light
/// comes from the upper left, and nearer surfaces are a little brighter.
fn shade_fragments(image: &mut Image, fragments: &[Option<Fragment>], window: usize, scale: f64) {
    let (w, h) = (image.width as usize, image.height as usize);
    // Summed-area tables of depth and coverage give the mean depth over any window.
    let mut sums = vec![[0.0f64; 2]; (w + 1) * (h + 1)];
    for y in 0..h {
        for x in 0..w {
            let here = fragments[y * w + x].map_or([0.0, 0.0], |f| [f.depth, 1.0]);
            let (up, left, diag) = (sums[y * (w + 1) + x + 1], sums[(y + 1) * (w + 1) + x], sums[y * (w + 1) + x]);
            sums[(y + 1) * (w + 1) + x + 1] = [0, 1].map(|k| here[k] + up[k] + left[k] - diag[k]);
        }
    }
    let smooth = |x: usize, y: usize| -> Option<f64> {
        fragments[y * w + x]?;
        let (x0, y0, x1, y1) =
            (x.saturating_sub(window), y.saturating_sub(window), (x + window + 1).min(w), (y + window + 1).min(h));
        let s = [0, 1].map(|k| {
            sums[y1 * (w + 1) + x1][k] - sums[y0 * (w + 1) + x1][k] - sums[y1 * (w + 1) + x0][k]
                + sums[y0 * (w + 1) + x0][k]
        });
        Some(s[0] / s[1])
    };
    let (lo, hi) = fragments.iter().flatten().fold((f64::MAX, f64::MIN), |r, f| (r.0.min(f.depth), r.1.max(f.depth)));
    let light = [-0.5, 0.7, 0.6].map(|c| c / 1.05357);
    for y in 0..h {
        for x in 0..w {
            let (Some(f), Some(z)) = (fragments[y * w + x], smooth(x, y)) else { continue };
            // Depth slope along an axis from the smoothed depths `window` pixels either side
            // (one-sided at the body's silhouette).
            let slope = |a: Option<(usize, usize)>, b: Option<(usize, usize)>| {
                let (za, da) = a.and_then(|(x, y)| smooth(x, y)).map_or((z, 0), |v| (v, window));
                let (zb, db) = b.and_then(|(x, y)| smooth(x, y)).map_or((z, 0), |v| (v, window));
                if da + db == 0 { 0.0 } else { (zb - za) * scale / (da + db) as f64 }
            };
            let gx = slope(x.checked_sub(window).map(|x| (x, y)), (x + window < w).then_some((x + window, y)));
            let gy = slope((y + window < h).then_some((x, y + window)), y.checked_sub(window).map(|y| (x, y)));
            let n = [-gx + 0.4 * f.bump[0], -gy + 0.4 * f.bump[1], 1.0];
            let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            let lambert = ((n[0] * light[0] + n[1] * light[1] + n[2] * light[2]) / len).max(0.0);
            let near = if hi > lo { (f.depth - lo) / (hi - lo) } else { 1.0 };
            let brightness = ((0.35 + 0.65 * lambert) * (0.75 + 0.25 * near)) as f32;
            image.blend(x as i64, y as i64, f.colour.map(|c| c * brightness), 1.0);
        }
    }
}

/// A line plot of `values` against their index (a loss curve): the frame of the plot, faint
/// lines at the powers of ten the values span when they are all positive (plotted on a log
/// scale then, as losses usually are), and the curve. Non-finite values are skipped.
pub fn plot_curve(values: &[f64], width: u32, height: u32) -> Image {
    let mut image = Image::new(width, height, BACKGROUND);
    let margin = 12.0;
    let (w, h) = (width as f64 - 2.0 * margin, height as f64 - 2.0 * margin);
    let corners = [(margin, margin), (margin + w, margin), (margin + w, margin + h), (margin, margin + h)];
    for k in 0..4 {
        line(&mut image, corners[k], corners[(k + 1) % 4], OUTLINE);
    }
    let finite: Vec<(usize, f64)> = values.iter().copied().enumerate().filter(|(_, v)| v.is_finite()).collect();
    if finite.is_empty() {
        return image;
    }
    let log = finite.iter().all(|&(_, v)| v > 0.0);
    let y_of = |v: f64| if log { v.log10() } else { v };
    let lo = finite.iter().map(|&(_, v)| y_of(v)).fold(f64::INFINITY, f64::min);
    let hi = finite.iter().map(|&(_, v)| y_of(v)).fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let to_pixel = |i: usize, v: f64| {
        let x = margin + w * i as f64 / (values.len().max(2) - 1) as f64;
        (x, margin + h * (1.0 - (y_of(v) - lo) / span))
    };
    if log {
        let faint = [48.0, 52.0, 62.0];
        for decade in (lo.ceil() as i32)..=(hi.floor() as i32) {
            let y = margin + h * (1.0 - (decade as f64 - lo) / span);
            line(&mut image, (margin, y), (margin + w, y), faint);
        }
    }
    let curve = PALETTE[0];
    for pair in finite.windows(2) {
        line(&mut image, to_pixel(pair[0].0, pair[0].1), to_pixel(pair[1].0, pair[1].1), curve);
    }
    if finite.len() == 1 {
        let (x, y) = to_pixel(finite[0].0, finite[0].1);
        line(&mut image, (x - 2.0, y), (x + 2.0, y), curve);
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::ply::tests::sample;
    use crate::math::Vector;

    /// Splits a PNG into (chunk type, data), checking the signature and every CRC.
    fn chunks(png: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
        assert_eq!(png[..8], PNG_SIGNATURE);
        let mut at = 8;
        let mut out = Vec::new();
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let body = &png[at + 4..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            assert_eq!(crc32(body), crc, "CRC of chunk {:?}", std::str::from_utf8(&body[..4]));
            out.push((body[..4].try_into().unwrap(), body[4..].to_vec()));
            at += 12 + len;
        }
        out
    }

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        assert_eq!(adler32(&[0xff; 100_000]), {
            let (a, b) = (0..100_000u64).fold((1u64, 0u64), |(a, b), _| ((a + 255) % 65521, (b + a + 255) % 65521));
            ((b << 16) | a) as u32
        });
    }

    #[test]
    fn png_structure_is_valid_and_decodes_to_the_image() {
        let (w, h) = (37, 23);
        let mut image = Image::new(w, h, [1, 2, 3]);
        for (i, px) in image.pixels.iter_mut().enumerate() {
            if i % 7 < 3 {
                *px = (i * 31 % 251) as u8;
            }
        }
        let png = image.to_png();
        let chunks = chunks(&png);
        let kinds: Vec<&[u8]> = chunks.iter().map(|c| &c.0[..]).collect();
        assert_eq!(kinds, [&b"IHDR"[..], b"IDAT", b"IEND"]);
        let ihdr = &chunks[0].1;
        assert_eq!(ihdr[..8], [0, 0, 0, 37, 0, 0, 0, 23]);
        assert_eq!(ihdr[8..], [8, 2, 0, 0, 0]);
        let zlib = &chunks[1].1;
        assert_eq!(u16::from_be_bytes([zlib[0], zlib[1]]) % 31, 0);
        let raw = inflate(&zlib[2..zlib.len() - 4]).unwrap();
        assert_eq!(raw.len(), (h * (1 + 3 * w)) as usize);
        assert_eq!(adler32(&raw).to_be_bytes(), zlib[zlib.len() - 4..]);
        assert_eq!(Image::from_png(&png, "t.png").unwrap(), image);
    }

    #[test]
    fn inflate_reads_stored_blocks_and_rejects_corruption() {
        // Two stored blocks, the second final.
        let mut stream = vec![0b000, 3, 0, !3, !0, b'a', b'b', b'c', 0b001, 2, 0, !2, !0, b'd', b'e'];
        assert_eq!(inflate(&stream).unwrap(), b"abcde");
        stream[3] ^= 1;
        assert!(inflate(&stream).is_none());
        let mut png = Image::new(4, 4, [9, 9, 9]).to_png();
        let n = png.len();
        png[n - 20] ^= 0x40;
        assert!(Image::from_png(&png, "bad.png").unwrap_err().to_string().contains("bad.png"));
    }

    #[test]
    fn uniform_images_compress_well() {
        let png = Image::new(512, 512, BACKGROUND).to_png();
        assert!(png.len() < 20_000, "{} bytes", png.len());
        assert_eq!(Image::from_png(&png, "bg.png").unwrap(), Image::new(512, 512, BACKGROUND));
    }

    /// Whether some pixel within `r` of (`x`, `y`) differs from the background.
    fn painted_near(image: &Image, x: f64, y: f64, r: i64) -> bool {
        let (cx, cy) = (x as i64, y as i64);
        (cy - r..=cy + r).any(|y| {
            (cx - r..=cx + r).any(|x| {
                x >= 0
                    && y >= 0
                    && x < image.width as i64
                    && y < image.height as i64
                    && image.pixel(x as u32, y as u32) != BACKGROUND
            })
        })
    }

    #[test]
    fn renderer_paints_particles_and_nothing_far_from_them_2d() {
        let (mut model, mut state) = sample::<2>(3);
        // Three particles: two in the lower left quarter, one near the top right.
        state.x =
            vec![Vector::<f64, 2>::new(0.25, 0.25), Vector::<f64, 2>::new(0.3, 0.2), Vector::<f64, 2>::new(0.8, 0.7)];
        model.particles.volume = vec![(1.0 / 64.0f64).powi(2); 3];
        let image = render_frame(&model, &state, 200, 200);
        let camera = Camera::new(2, [1.0, 1.0, 0.0], 200, 200);
        for x in &state.x {
            let (px, py, _) = camera.project([x[0], x[1], 0.0]);
            assert!(painted_near(&image, px, py, 0), "no paint at particle ({px}, {py})");
        }
        // Lower left of the image is up-screen of nothing: around world (0.7, 0.25) is empty.
        for (wx, wy) in [(0.7, 0.25), (0.5, 0.5), (0.25, 0.75)] {
            let (px, py, _) = camera.project([wx, wy, 0.0]);
            assert!(!painted_near(&image, px, py, 10), "paint far from particles at ({wx}, {wy})");
        }
        // Particles of different materials get different colours.
        let (a, _, _) = camera.project([0.25, 0.25, 0.0]);
        let (b, _, _) = camera.project([0.3, 0.2, 0.0]);
        let pa = image.pixel(a as u32, camera.project([0.25, 0.25, 0.0]).1 as u32);
        let pb = image.pixel(b as u32, camera.project([0.3, 0.2, 0.0]).1 as u32);
        assert_ne!(pa, pb);
        // The domain outline is drawn.
        let (ox, oy, _) = camera.project([0.0, 0.5, 0.0]);
        assert!(painted_near(&image, ox, oy, 1));
    }

    #[test]
    fn renderer_skips_particles_off_the_image() {
        let (model, mut state) = sample::<3>(3);
        state.x =
            vec![Vector::<f64, 3>::repeat(f64::NAN), Vector::<f64, 3>::repeat(1e300), Vector::<f64, 3>::repeat(-1e30)];
        let empty = render_frame(&model, &State::at_rest(Vec::new()), 64, 64);
        assert_eq!(render_frame(&model, &state, 64, 64), empty);
        let (model, mut state) = sample::<2>(2);
        state.x = vec![Vector::<f64, 2>::repeat(f64::INFINITY), Vector::<f64, 2>::new(f64::NAN, 0.5)];
        assert_eq!(render_frame(&model, &state, 64, 64), render_frame(&model, &State::at_rest(Vec::new()), 64, 64));
    }

    #[test]
    fn renderer_paints_particles_and_nothing_far_from_them_3d() {
        let (mut model, mut state) = sample::<3>(2);
        state.x = vec![Vector::<f64, 3>::new(0.3, 0.3, 0.3), Vector::<f64, 3>::new(0.6, 0.7, 0.5)];
        model.particles.volume = vec![(1.0 / 64.0f64).powi(3); 2];
        let image = render_frame(&model, &state, 160, 120);
        let camera = Camera::new(3, [1.0; 3], 160, 120);
        for x in &state.x {
            let (px, py, _) = camera.project([x[0], x[1], x[2]]);
            assert!(painted_near(&image, px, py, 0), "no paint at particle ({px}, {py})");
        }
        let (px, py, _) = camera.project([0.5, 0.5, 0.5]);
        assert!(!painted_near(&image, px, py, 4), "paint at the empty centre");
        assert_eq!(image.pixels.len(), 160 * 120 * 3);
    }
}
