"""What the clinic would see of a run (issue 14, phase 1): the library.

``tissue`` turns cells, densities and vessels into what a scanner sees on a grid in mm;
``background`` embeds the simulated domain in its organ at the organ's real size; ``images``
holds one image model per modality (PET, CT, MRI: expected image, noise, realisation);
``noise`` the correlated Gaussian noise and its covariance operator; ``observer`` the
detectability (non-prewhitening matched filter, Rose's k; PERCIST for PET); ``export``
NIfTI, VTK image data and PNG figures; ``liquid_biopsy`` the CellSearch count of circulating
tumour cells per 7.5 mL. Plain numpy in and out, one rank; docs/imaging.md and
docs/liquid-biopsy.md.
"""
