"""``docker-encapsulated`` packtivities under Apptainer (or Singularity).  (The top-level
``containers/`` holds the definition files of the test images, not code.)

``settings``  where the runtime, image map, cache and containment come from
``images``    image + imagetag -> a SIF (image map, cache, local file, or one locked pull)
``mounts``    state directories, par_mounts, resources, env -> binds and variables
``command``   those -> the runtime's argument list (no I/O)
"""
