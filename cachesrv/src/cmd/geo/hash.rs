//! Redis's geohash arithmetic (`geohash.c`, `geohash_helper.c`): 52-bit interleaved cell
//! numbers over the Web Mercator latitude range, the 3x3 cells a search scans, and the
//! haversine distance on Redis's earth radius. Every formula follows Redis's, operation for
//! operation, so scores, decoded coordinates and distances come out bit-identical.

/// Longitude range.
pub(super) const LON_MIN: f64 = -180.0;
/// Longitude range.
pub(super) const LON_MAX: f64 = 180.0;
/// Latitude range (Web Mercator).
pub(super) const LAT_MIN: f64 = -85.05112878;
/// Latitude range (Web Mercator).
pub(super) const LAT_MAX: f64 = 85.05112878;
/// Precision of stored scores: 26 steps per axis.
pub(super) const STEP_MAX: u8 = 26;
const EARTH_RADIUS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// A cell: `bits` at `step` bits per axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Cell {
    pub bits: u64,
    pub step: u8,
}

impl Cell {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A cell's bounds.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Area {
    pub lon_min: f64,
    pub lon_max: f64,
    pub lat_min: f64,
    pub lat_max: f64,
}

fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

fn squash(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// Encodes a point in the given ranges (latitude in the even bits, longitude in the odd).
fn encode_in(lon_r: (f64, f64), lat_r: (f64, f64), lon: f64, lat: f64, step: u8) -> Option<Cell> {
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lon < lon_r.0 || lon > lon_r.1 || lat < lat_r.0 || lat > lat_r.1 {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.0) / (lat_r.1 - lat_r.0) * scale;
    let lon_off = (lon - lon_r.0) / (lon_r.1 - lon_r.0) * scale;
    Some(Cell {
        bits: spread(lat_off as u32) | (spread(lon_off as u32) << 1),
        step,
    })
}

/// The cell of a point at `step` (Redis's ranges); `None` out of range.
pub(super) fn encode(lon: f64, lat: f64, step: u8) -> Option<Cell> {
    encode_in((LON_MIN, LON_MAX), (LAT_MIN, LAT_MAX), lon, lat, step)
}

/// The standard geohash cell (latitude -90..90), for GEOHASH's strings.
pub(super) fn encode_standard(lon: f64, lat: f64) -> Option<Cell> {
    encode_in((-180.0, 180.0), (-90.0, 90.0), lon, lat, STEP_MAX)
}

fn decode_in(lon_r: (f64, f64), lat_r: (f64, f64), c: Cell) -> Area {
    let ilat = squash(c.bits);
    let ilon = squash(c.bits >> 1);
    let lat_scale = lat_r.1 - lat_r.0;
    let lon_scale = lon_r.1 - lon_r.0;
    let div = (1u64 << c.step) as f64;
    Area {
        lat_min: lat_r.0 + (f64::from(ilat) * 1.0 / div) * lat_scale,
        lat_max: lat_r.0 + ((f64::from(ilat) + 1.0) * 1.0 / div) * lat_scale,
        lon_min: lon_r.0 + (f64::from(ilon) * 1.0 / div) * lon_scale,
        lon_max: lon_r.0 + ((f64::from(ilon) + 1.0) * 1.0 / div) * lon_scale,
    }
}

/// The bounds of a cell (Redis's ranges).
pub(super) fn decode(c: Cell) -> Area {
    decode_in((LON_MIN, LON_MAX), (LAT_MIN, LAT_MAX), c)
}

/// The (longitude, latitude) a stored score stands for: its cell's centre, clamped.
pub(super) fn decode_score(score: f64) -> (f64, f64) {
    let a = decode(Cell {
        bits: score as u64,
        step: STEP_MAX,
    });
    let lon = ((a.lon_min + a.lon_max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((a.lat_min + a.lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The score stored for a point.
pub(super) fn score_of(lon: f64, lat: f64) -> Option<f64> {
    encode(lon, lat, STEP_MAX).map(|c| c.bits as f64)
}

/// The distance along a meridian.
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in meters, as Redis computes it.
pub(super) fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS * a.sqrt().asin()
}

/// A search shape: centre, radius or box (in meters after `conversion`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub lon: f64,
    pub lat: f64,
    /// Meters per unit.
    pub conversion: f64,
    /// `Some(radius)` in units, or `None` for a box.
    pub radius: Option<f64>,
    /// Box width and height, in units.
    pub width: f64,
    pub height: f64,
}

impl Shape {
    /// The distance of a point (meters) if it is inside the shape.
    pub(super) fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.radius {
            Some(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= r * self.conversion).then_some(d)
            }
            None => {
                let (w, h) = (self.width * self.conversion, self.height * self.conversion);
                if lat_distance(lat, self.lat) > h / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > w / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }
}

fn steps_for_radius(mut range: f64, lat: f64) -> u8 {
    if range == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn move_x(c: &mut Cell, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = c.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = c.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> (64 - u32::from(c.step) * 2);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - u32::from(c.step) * 2);
    c.bits = x | y;
}

fn move_y(c: &mut Cell, d: i8) {
    if d == 0 {
        return;
    }
    let x = c.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = c.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - u32::from(c.step) * 2);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> (64 - u32::from(c.step) * 2);
    c.bits = x | y;
}

fn moved(c: Cell, dx: i8, dy: i8) -> Cell {
    let mut n = c;
    move_x(&mut n, dx);
    move_y(&mut n, dy);
    n
}

/// The cells a search scans, in Redis's order (centre, N, S, E, W, NE, NW, SE, SW), with the
/// useless ones removed, as `geohashCalculateAreasByShapeWGS84` and `membersOfAllNeighbors`.
pub(super) fn cells_for(shape: &Shape) -> Vec<Cell> {
    let (lon, lat) = (shape.lon, shape.lat);
    let (hh, hw) = match shape.radius {
        Some(r) => (r, r),
        None => (shape.height / 2.0, shape.width / 2.0),
    };
    let height = shape.conversion * hh;
    let width = shape.conversion * hw;
    let lat_delta = rad_deg(height / EARTH_RADIUS);
    let lon_delta_top = rad_deg(width / EARTH_RADIUS / deg_rad(lat + lat_delta).cos());
    let lon_delta_bottom = rad_deg(width / EARTH_RADIUS / deg_rad(lat - lat_delta).cos());
    let south = lat < 0.0;
    let min_lon = if south {
        lon - lon_delta_bottom
    } else {
        lon - lon_delta_top
    };
    let max_lon = if south {
        lon + lon_delta_bottom
    } else {
        lon + lon_delta_top
    };
    let min_lat = lat - lat_delta;
    let max_lat = lat + lat_delta;
    let radius_m = match shape.radius {
        Some(r) => r,
        None => ((shape.width / 2.0) * (shape.width / 2.0)
            + (shape.height / 2.0) * (shape.height / 2.0))
            .sqrt(),
    } * shape.conversion;
    let mut steps = steps_for_radius(radius_m, lat);
    let Some(mut hash) = encode(lon, lat, steps) else {
        return Vec::new();
    };
    let neighbours = |h: Cell| {
        [
            moved(h, 0, 1),   // north
            moved(h, 0, -1),  // south
            moved(h, 1, 0),   // east
            moved(h, -1, 0),  // west
            moved(h, 1, 1),   // north east
            moved(h, -1, 1),  // north west
            moved(h, 1, -1),  // south east
            moved(h, -1, -1), // south west
        ]
    };
    let mut n = neighbours(hash);
    let mut area = decode(hash);
    let decrease = decode(n[0]).lat_max < max_lat
        || decode(n[1]).lat_min > min_lat
        || decode(n[2]).lon_max < max_lon
        || decode(n[3]).lon_min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        if let Some(h) = encode(lon, lat, steps) {
            hash = h;
        }
        n = neighbours(hash);
        area = decode(hash);
    }
    let zero = Cell::default();
    if steps >= 2 {
        if area.lat_min < min_lat {
            n[1] = zero;
            n[7] = zero;
            n[6] = zero;
        }
        if area.lat_max > max_lat {
            n[0] = zero;
            n[4] = zero;
            n[5] = zero;
        }
        if area.lon_min < min_lon {
            n[3] = zero;
            n[7] = zero;
            n[5] = zero;
        }
        if area.lon_max > max_lon {
            n[2] = zero;
            n[6] = zero;
            n[4] = zero;
        }
    }
    let all = [hash, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]];
    // As Redis: a cell equal to the last one scanned is skipped, unless that was the centre.
    let mut out: Vec<Cell> = Vec::with_capacity(9);
    let mut last = 0usize;
    for (i, c) in all.iter().enumerate() {
        if c.is_zero() {
            continue;
        }
        if last > 0 && all[last] == *c {
            continue;
        }
        out.push(*c);
        last = i;
    }
    out
}

/// The score range `min..max` (max exclusive) of a cell.
pub(super) fn score_range(c: Cell) -> (f64, f64) {
    let shift = 52 - u32::from(c.step) * 2;
    let min = c.bits << shift;
    let max = (c.bits + 1) << shift;
    (min as f64, max as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_coordinates_round_trip_as_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo": score 3479099956230698.
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698.0));
        let (lon, lat) = decode_score(3479099956230698.0);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        // GEODIST Sicily Palermo Catania: between the stored (cell centre) positions.
        let catania = score_of(15.087269, 37.502669).expect("in range");
        let (lon2, lat2) = decode_score(catania);
        assert_eq!(
            format!("{:.4}", distance(lon, lat, lon2, lat2)),
            "166274.1516"
        );
        assert_eq!(score_of(0.0, 86.0), None);
    }
}
