print("unet-engine")
