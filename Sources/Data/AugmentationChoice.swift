/// The random decisions for one training view of one image, drawn by `Augmenter.choice` and
/// applied by `Augmenter.apply`. All zeros and `flip == false` is the identity.
///
/// Kept separate from the drawing so that tests can force a particular choice.
struct AugmentationChoice: Hashable, Sendable {
    /// Vertical displacement of the crop window from the centre, in `−padding...padding`: the
    /// output row `y` shows row `y + cropY` of the (shifted) image. torchvision's offset `i` in
    /// `0...2·padding` of the padded image is `cropY = i − padding`.
    var cropY: Int
    /// Horizontal displacement of the crop window, as `cropY`.
    var cropX: Int
    /// Whether the view is mirrored left–right (applied last).
    var flip: Bool
    /// Vertical shift of the content, in pixels: positive moves the picture down, so shifted row
    /// `y` shows image row `y − shiftY`.
    var shiftY: Int
    /// Horizontal shift of the content; positive moves the picture right.
    var shiftX: Int

    /// The identity: no crop displacement, no flip, no shift.
    static let identity = AugmentationChoice(cropY: 0, cropX: 0, flip: false, shiftY: 0, shiftX: 0)
}
